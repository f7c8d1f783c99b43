//! Context scenarios against the real llama-server: exact haystack lengths on the real
//! tokenizer, needles where they belong, speed and recall on every row.

use edgebench::results::reader::{read_samples, read_summary};

use crate::common::*;

#[test]
fn short_sweep_on_llama_server_has_speed_and_recall_on_every_row() {
    let tmp = tempfile::tempdir().unwrap();
    // The shared server: 2048 tokens of context per slot, so "max" is 2048.
    let config = shared_gemma_config(tmp.path(), "");
    let scenario = write(
        tmp.path(),
        "ctx.toml",
        concat!(
            "kind = \"context\"\nname = \"ctx\"\nlengths = \"pow2:1k..max\"\ndepths = [0, 50, 100]\nmax_tokens = 8\nwarmup = 0\n",
            "[[needles]]\nkind = \"number\"\n[[needles]]\nkind = \"uuid\"\nvariant = \"multi_value\"\ncount = 2\n"
        ),
    );
    let out = edgebench()
        .args(["run", "--quiet", "--run-id", "ctx"])
        .arg(&scenario)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(tmp.path())
        .timeout(COMMAND_TIMEOUT)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = tmp.path().join("ctx");
    let rows = read_samples(&run.join("samples.csv")).unwrap().rows;
    // "max" came from the server's context per slot (2048): lengths 1K, 2K × 3 depths × 2
    // needle specs.
    assert_eq!(SHARED_GEMMA_SLOT_CTX, 2048);
    assert_eq!(rows.len(), 12);
    for r in &rows {
        assert_eq!(r.error_category, None, "{r:?}");
        let length: u32 = r.case_id.trim_start_matches("ctx").parse().unwrap();
        // Prompt plus answer fill the length exactly, in the server's own tokens.
        assert_eq!(r.prompt_tokens, Some((length - 8) as u64), "{r:?}");
        assert_eq!(r.prompt_tokens_server, r.prompt_tokens);
        assert_eq!(r.cached_tokens, Some(0), "no prefix-cache hits");
        assert!(
            r.ttft_ms.unwrap() > 0.0
                && r.prefill_tok_s.unwrap() > 0.0
                && r.decode_tok_s.unwrap() > 0.0
        );
        let recall = r.recall.unwrap();
        assert!((0.0..=1.0).contains(&recall));
        assert!(r.output_head.is_some());
        // The asked needle sits at its depth, moved back at most one filler sentence.
        let depth = r.depth_pct.unwrap();
        assert!(depth <= 100.0 && depth >= 0.0);
        let needle = r.needle.as_deref().unwrap();
        assert!(needle == "number/single" || needle == "uuid/multi_value");
    }
    for (want, tol) in [(0.0, 0.0), (50.0, 2.0), (100.0, 2.0)] {
        let got: Vec<f64> = rows
            .iter()
            .map(|r| r.depth_pct.unwrap())
            .filter(|d| (d - want).abs() <= 5.0)
            .collect();
        assert_eq!(got.len(), 4, "four requests at depth {want}");
        assert!(
            got.iter().all(|d| (d - want).abs() <= tol),
            "depth {want}: {got:?}"
        );
    }
    let summary = read_summary(&run.join("summary.csv")).unwrap().rows;
    for l in ["ctx1024", "ctx2048"] {
        let recall = summary
            .iter()
            .find(|r| r.case_id == l && r.metric == "recall")
            .expect("recall per length");
        assert_eq!(recall.n, 6);
        assert!(recall.ci_low <= recall.mean && recall.mean <= recall.ci_high);
        assert!(
            summary
                .iter()
                .any(|r| r.case_id == l && r.metric == "decode_tok_s")
        );
    }
    let eff = summary
        .iter()
        .find(|r| r.metric == "effective_context_length")
        .unwrap();
    assert_eq!(eff.n, 2, "judged over both lengths");
    assert!(stdout.contains("| length |"), "{stdout}");

    // The report draws the context figures: TTFT against length and the recall heatmap,
    // whose caption states the effective context length.
    let report = tmp.path().join("report");
    let out = edgebench()
        .arg("report")
        .arg(&run)
        .arg("-o")
        .arg(&report)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(html.contains("TTFT vs context length"));
    assert!(html.contains("Needle recall"));
    assert!(html.contains("Effective context length") || html.contains("No tested length reached"));
    assert!(report.join("ttft-vs-context-length.svg").exists());
}

/// The in-process engine runs the same sweep: speed and recall on every row, and the peak
/// memory per length.
#[test]
fn short_sweep_in_process_has_speed_recall_and_peak_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write(
        tmp.path(),
        "b.toml",
        &format!(
            "default = \"ip\"\n[backends.ip]\nkind = \"llamacpp\"\nmodel = {:?}\nctx_size = 2048\nthreads = 1\n",
            gemma().display().to_string()
        ),
    );
    let scenario = write(
        tmp.path(),
        "ctx.toml",
        "kind = \"context\"\nname = \"ctx\"\nlengths = \"pow2:1k..max\"\ndepths = [0, 100]\nmax_tokens = 8\nwarmup = 0\n",
    );
    let out = edgebench()
        .args(["run", "--quiet", "--run-id", "ip"])
        .arg(&scenario)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(tmp.path())
        .timeout(COMMAND_TIMEOUT)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = tmp.path().join("ip");
    let rows = read_samples(&run.join("samples.csv")).unwrap().rows;
    // max = ctx_size 2048: lengths 1K and 2K × 2 depths.
    assert_eq!(rows.len(), 4);
    for r in &rows {
        assert_eq!(r.error_category, None, "{r:?}");
        let length: u64 = r.case_id.trim_start_matches("ctx").parse().unwrap();
        assert_eq!(
            r.prompt_tokens,
            Some(length - 8),
            "exact in the engine's own tokens"
        );
        assert!(r.prefill_tok_s.unwrap() > 0.0 && r.decode_tok_s.unwrap() > 0.0);
        assert!(r.recall.is_some());
    }
    let summary = read_summary(&run.join("summary.csv")).unwrap().rows;
    for l in ["ctx1024", "ctx2048"] {
        let peak = summary
            .iter()
            .find(|r| r.case_id == l && r.metric == "peak_rss_mb")
            .expect("peak memory per length");
        assert!(
            peak.p50 > 100.0,
            "the model alone is ~240 MiB: {}",
            peak.p50
        );
    }
}
