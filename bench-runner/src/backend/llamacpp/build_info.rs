//! Which llama.cpp is compiled in: the crate versions (from Cargo.lock, at build time), ggml's
//! version, the GPU back ends enabled as cargo features, and llama.cpp's own system info line
//! (the CPU features it was built for and sees).

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EngineBuild {
    pub llama_cpp_2: String,
    /// The crate that vendors llama.cpp's sources; its version names the llama.cpp build.
    pub llama_cpp_sys_2: String,
    pub ggml_version: Option<String>,
    /// llama-bench's `backends` column: `CPU`, or the GPU back ends compiled in.
    pub backend: String,
    pub system_info: Option<String>,
    /// Rust profile and target CPU flags the engine was compiled with.
    pub profile: String,
}

impl EngineBuild {
    pub fn read() -> Self {
        let mut gpu = Vec::new();
        if cfg!(feature = "cuda") {
            gpu.push("CUDA");
        }
        if cfg!(feature = "metal") {
            gpu.push("Metal");
        }
        if cfg!(feature = "vulkan") {
            gpu.push("Vulkan");
        }
        EngineBuild {
            llama_cpp_2: option_env!("EDGEBENCH_LLAMA_CPP_2_VERSION")
                .unwrap_or("unknown")
                .into(),
            llama_cpp_sys_2: option_env!("EDGEBENCH_LLAMA_CPP_SYS_2_VERSION")
                .unwrap_or("unknown")
                .into(),
            ggml_version: c_string(ffi_ggml_version()),
            backend: if gpu.is_empty() {
                "CPU".into()
            } else {
                gpu.join(",")
            },
            system_info: c_string(ffi_system_info()).map(|s| s.trim().to_string()),
            profile: if cfg!(debug_assertions) {
                "debug".into()
            } else {
                "release".into()
            },
        }
    }
}

fn c_string(p: *const std::os::raw::c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    #[allow(unsafe_code)]
    // SAFETY: llama.cpp returns a NUL-terminated string in static storage (or null, checked above).
    let s = unsafe { std::ffi::CStr::from_ptr(p) };
    Some(s.to_string_lossy().into_owned())
}

#[allow(unsafe_code)]
fn ffi_ggml_version() -> *const std::os::raw::c_char {
    // SAFETY: no arguments, returns a pointer to a static string.
    unsafe { llama_cpp_sys_2::ggml_version() }
}

#[allow(unsafe_code)]
fn ffi_system_info() -> *const std::os::raw::c_char {
    // SAFETY: no arguments; returns a pointer to a static buffer that llama.cpp owns. Called
    // from one thread at a time (the backend's connect), so the buffer is not rewritten under us.
    unsafe { llama_cpp_sys_2::llama_print_system_info() }
}
