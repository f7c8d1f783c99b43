//! The fixture of the publish tests: real runs made once per test process (two devices, two
//! measured models, a tool-call run, a context run, a bandwidth probe), battles written with
//! style and category columns, and the site `edgebench publish` makes of them.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::common::{gemma, repo_root, run_ok, shared_qwen, write};
use crate::hostile_names::{LABEL, STEMS};
/// The second device: the hostile label of the report tests.
pub const PHONE: &str = LABEL;
/// The model that only fought battles.
pub const GHOST: &str = STEMS[0];
/// A battle category whose name reads like markup.
pub const HOSTILE_CATEGORY: &str = STEMS[1];
pub const MIN_VOTES: &str = "25";

pub struct Fixture {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub results: PathBuf,
    pub battles: PathBuf,
    pub site: PathBuf,
}

fn config(dir: &Path) -> PathBuf {
    write(
        dir,
        "backends.toml",
        &format!(
            "default = \"gemma\"\n[backends.gemma]\nkind = \"llamacpp\"\nmodel = {:?}\nthreads = 1\nctx_size = 1024\n[backends.qwen]\nkind = \"openai\"\nbase_url = {:?}\nstall_timeout_s = 300\n",
            gemma(),
            shared_qwen().base_url()
        ),
    )
}

const SPEED: &str = "name = \"speed\"\nkind = \"throughput\"\nprompt_tokens = [16]\nmax_tokens = [8]\nconcurrency = [1]\nwarmup = 1\nrepetitions = 3\nseed = 3\ntemperature = 0.0\nignore_eos = true\n";
const CONTEXT: &str = "kind = \"context\"\nname = \"ctx\"\nlengths = [512, 1024]\ndepths = [0, 100]\nmax_tokens = 8\nwarmup = 0\n";

/// Four items of the shipped suite (simple and multiple), asked as text at depth 0.
fn tools_scenario(dir: &Path) -> PathBuf {
    let keep = [
        "simple_weather_paris",
        "simple_currency",
        "multiple_time",
        "multiple_weather",
    ];
    let suite: String =
        std::fs::read_to_string(repo_root().join("scenarios/data/tool_suite.jsonl"))
            .unwrap()
            .lines()
            .filter(|l| {
                l.starts_with("{\"define\"")
                    || keep
                        .iter()
                        .any(|id| l.contains(&format!("\"id\": \"{id}\"")))
            })
            .map(|l| format!("{l}\n"))
            .collect();
    write(dir, "suite.jsonl", &suite);
    write(
        dir,
        "tools.toml",
        "name = \"tools\"\nkind = \"tool_calls\"\nsuites = [\"suite.jsonl\"]\nmode = [\"prompt\"]\ndepth = [0]\nmax_tokens = 64\n",
    )
}

/// Battles among gemma, qwen and the ghost: 30 gemma–qwen, 10 with the ghost each (so the
/// ghost has 20 votes, provisional under 25), outcomes and style counts from a fixed pattern.
pub fn battles(dir: &Path) -> PathBuf {
    let p = dir.join("battles.csv");
    let mut w = csv::Writer::from_path(&p).unwrap();
    let mut header: Vec<&str> = edgebench::arena::battles::BATTLE_COLUMNS.to_vec();
    header.push("category");
    w.write_record(&header).unwrap();
    let pairs = (0..30)
        .map(|_| ("gemma", "qwen"))
        .chain((0..10).map(|_| ("gemma", GHOST)))
        .chain((0..10).map(|_| (GHOST, "qwen")));
    for (i, (a, b)) in pairs.enumerate() {
        let winner = [
            "model_a",
            "model_b",
            "model_b",
            "tie",
            "model_a",
            "model_b",
            "tie (bothbad)",
        ][i % 7];
        let category = [
            "coding".to_string(),
            "long context;coding".to_string(),
            HOSTILE_CATEGORY.to_string(),
        ][i % 3]
            .clone();
        let n = |k: usize| ((i * k) % 97 + 3).to_string();
        w.write_record([
            format!("b{i}"),
            a.into(),
            b.into(),
            winner.into(),
            "human".into(),
            format!("p{}", i % 5),
            "1".into(),
            (1_700_000_000 + i).to_string(),
            n(37),
            n(41),
            n(3),
            n(5),
            n(7),
            n(11),
            n(13),
            n(17),
            String::new(),
            category,
        ])
        .unwrap();
    }
    w.flush().unwrap();
    p
}

fn run(
    results: &Path,
    cfg: &Path,
    scenario: &Path,
    id: &str,
    label: &str,
    backends: &[&str],
    extra: &[&str],
) {
    let mut args = vec![
        "run",
        "--quiet",
        "--run-id",
        id,
        scenario.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        results.to_str().unwrap(),
        "--label",
        label,
    ];
    for b in backends {
        args.extend(["-b", b]);
    }
    args.extend(extra);
    run_ok(&args);
}

pub const RATE_ARGS: &[&str] = &[
    "--min-votes",
    MIN_VOTES,
    "--rounds",
    "200",
    "--seed",
    "7",
    "--style",
    "--anchor",
    "gemma=1000",
];

pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let cfg = config(&root);
        let results = root.join("results");
        let speed = write(&root, "speed.toml", SPEED);
        run(
            &results,
            &cfg,
            &speed,
            "laptop-speed",
            "laptop",
            &["gemma", "qwen"],
            &["--probe"],
        );
        run(
            &results,
            &cfg,
            &speed,
            "phone-speed",
            PHONE,
            &["gemma", "qwen"],
            &[],
        );
        run(
            &results,
            &cfg,
            &tools_scenario(&root),
            "laptop-tools",
            "laptop",
            &["qwen"],
            &[],
        );
        let ctx = write(&root, "ctx.toml", CONTEXT);
        run(&results, &cfg, &ctx, "laptop-ctx", "laptop", &["qwen"], &[]);
        let battles = battles(&root);
        let site = root.join("site");
        let mut args = vec![
            "publish",
            "--battles",
            battles.to_str().unwrap(),
            "--runs",
            results.to_str().unwrap(),
            "--out",
            site.to_str().unwrap(),
            "--title",
            "Edge <b>board</b>",
        ];
        args.extend(RATE_ARGS);
        run_ok(&args);
        Fixture {
            root,
            results,
            battles,
            site,
            _dir: dir,
        }
    })
}
