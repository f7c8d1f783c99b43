// Records the git commit edgebench was built from, for run.json. Not a failure outside git.
// Also records the llama-cpp-2 / llama-cpp-sys-2 versions from Cargo.lock: the sys crate
// vendors llama.cpp, so its version names the llama.cpp build the in-process backend runs.
fn main() {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=EDGEBENCH_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/refs");

    let lock = std::fs::read_to_string("../Cargo.lock").unwrap_or_default();
    for (crate_name, var) in [
        ("llama-cpp-2", "EDGEBENCH_LLAMA_CPP_2_VERSION"),
        ("llama-cpp-sys-2", "EDGEBENCH_LLAMA_CPP_SYS_2_VERSION"),
    ] {
        if let Some(v) = locked_version(&lock, crate_name) {
            println!("cargo:rustc-env={var}={v}");
        }
    }
    println!("cargo:rerun-if-changed=../Cargo.lock");
}

/// The `version` line after `name = "<crate>"` in Cargo.lock.
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let needle = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l.trim() == needle {
            let v = lines.next()?.trim();
            return v
                .strip_prefix("version = \"")?
                .strip_suffix('"')
                .map(str::to_string);
        }
    }
    None
}
