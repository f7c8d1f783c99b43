//! Arena at FastChat's scale: the streaming importer on both input shapes, a leaderboard whose
//! disclosure summarises tens of thousands of judges instead of listing them, and battles
//! files from elsewhere (no `judge` column). The memory figures are measured by
//! `scripts/bench-arena --memory` (a smoke run of it is below).

use std::path::Path;
use std::process::Output;

use edgebench::arena::battles::read_rows;
use serde_json::Value;

use crate::common::*;

/// FastChat-style records: `n` battles among three models; every fifth is named; judges are
/// `u<k>` (a few battles each) except every fourth battle, which one of twelve heavy voters
/// `heavy-<k>` decides. Extra FastChat fields (with brackets and braces in strings) must be
/// skipped unread.
fn records(n: usize, voters: usize) -> Vec<String> {
    let models = ["alpha", "beta", "gamma"];
    (0..n)
        .map(|i| {
            let (a, b) = (models[i % 3], models[(i / 3 + 1 + i) % 3]);
            let b = if a == b { models[(i + 1) % 3] } else { b };
            let winner = ["model_a", "model_b", "tie", "tie (bothbad)", "model_a"][i % 5];
            let judge = if i % 4 == 0 {
                format!("heavy-{}", (i / 4) % 12)
            } else {
                format!("u{}", i % voters)
            };
            format!(
                r#"{{"question_id":"q{i}","model_a":"{a}","model_b":"{b}","winner":"{winner}","judge":"{judge}","turn":1,"anony":{},"language":"English","tstamp":{i}.5,"conversation_a":[{{"role":"user","content":"a [list] and {{braces}}"}}],"dedup_tag":{{"high_freq":false}},"conv_metadata":{{"sum_assistant_a_tokens":{},"sum_assistant_b_tokens":20,"header_count_a":{{"h1":1}},"header_count_b":{{"h1":0}},"list_count_a":{{"ordered":0,"unordered":2}},"list_count_b":{{"ordered":0,"unordered":0}},"bold_count_a":{{"**":1,"__":0}},"bold_count_b":{{"**":0,"__":0}}}}}}"#,
                i % 5 != 4,
                10 + i % 7
            )
        })
        .collect()
}

fn as_array(recs: &[String]) -> String {
    format!("[\n  {}\n]\n", recs.join(",\n  "))
}

fn as_lines(recs: &[String]) -> String {
    // Blank lines between records are allowed in JSON Lines.
    recs.join("\n\n") + "\n"
}

fn import(file: &Path, out: &Path) -> String {
    run_ok(&[
        "arena",
        "import",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

fn rate(args: &[&str]) -> Output {
    let out = edgebench()
        .args(["arena", "rate", "--rounds", "20", "--threads", "1"])
        .args(args)
        .timeout(std::time::Duration::from_secs(600))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn streaming_import_reads_arrays_and_lines_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let recs = records(5_000, 1_000);
    let array = write(tmp.path(), "clean_battle.json", &as_array(&recs));
    let lines = write(tmp.path(), "clean_battle.jsonl", &as_lines(&recs));
    let (from_array, from_lines) = (tmp.path().join("a.csv"), tmp.path().join("l.csv"));
    for (file, out) in [(&array, &from_array), (&lines, &from_lines)] {
        let stdout = import(file, out);
        assert!(
            stdout.contains("5000 battles read, 4000 anonymous kept, 1000 named skipped"),
            "{stdout}"
        );
    }
    assert_eq!(
        std::fs::read(&from_array).unwrap(),
        std::fs::read(&from_lines).unwrap()
    );
    let rows = read_rows(&from_array).unwrap();
    assert_eq!(rows.len(), 4_000);
    // Only anonymous battles, in file order, with their fields and style counts.
    assert!(rows.iter().all(|r| {
        let i: usize = r.battle_id[1..].parse().unwrap();
        i % 5 != 4
    }));
    let r = &rows[1];
    assert_eq!(
        (
            r.battle_id.as_str(),
            r.judge.as_str(),
            r.tstamp,
            r.tokens_a,
            r.lists_a
        ),
        ("q1", "u1", 1.5, Some(11), Some(2))
    );
    // Appending a second import keeps the first.
    import(&lines, &from_array);
    assert_eq!(read_rows(&from_array).unwrap().len(), 8_000);
    // A bad record late in a large file: located, and nothing of that import is kept.
    let mut bad = recs.clone();
    bad[4_990] = bad[4_990].replace("\"winner\":\"model_a\"", "\"winner\":\"leftvote\"");
    let bad = write(tmp.path(), "bad.json", &as_array(&bad));
    let before = std::fs::read(&from_array).unwrap();
    let (code, stderr) = run_err(&[
        "arena",
        "import",
        bad.to_str().unwrap(),
        "--out",
        from_array.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("battle 4991") && stderr.contains("leftvote"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&from_array).unwrap(), before);
}

#[test]
fn many_judges_are_summarised_not_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let voters = 3_000;
    let battles = write(
        tmp.path(),
        "clean_battle.json",
        &as_array(&records(12_000, voters)),
    );
    let csv = tmp.path().join("battles.csv");
    import(&battles, &csv);
    let lb = tmp.path().join("lb");
    let out = rate(&[csv.to_str().unwrap(), "--out", lb.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);

    // judges.csv has every judge with its battles; they add up to the battles rated.
    let mut rdr = csv::Reader::from_path(lb.join("judges.csv")).unwrap();
    assert_eq!(
        rdr.headers().unwrap().iter().collect::<Vec<_>>(),
        ["judge", "battles"]
    );
    let judges: Vec<(String, u64)> = rdr
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_string(), r[1].parse().unwrap())
        })
        .collect();
    let d: Value =
        serde_json::from_str(&std::fs::read_to_string(lb.join("disclosure.json")).unwrap())
            .unwrap();
    let n = judges.len();
    assert!(n > 1_000, "{n} judges");
    assert_eq!(
        judges.iter().map(|j| j.1).sum::<u64>(),
        d["battles"].as_u64().unwrap()
    );
    assert!(judges.windows(2).all(|w| w[0].1 >= w[1].1));

    // The disclosure: the count and the ten judges with most battles (the heavy voters).
    assert_eq!(d["judges"].as_u64(), Some(n as u64));
    let top = d["top_judges"].as_array().unwrap();
    assert_eq!(top.len(), 10);
    for (t, j) in top.iter().zip(&judges) {
        assert_eq!(
            (t["judge"].as_str().unwrap(), t["battles"].as_u64().unwrap()),
            (j.0.as_str(), j.1)
        );
        assert!(j.0.starts_with("heavy-"), "{t}");
    }
    let md = std::fs::read_to_string(lb.join("leaderboard.md")).unwrap();
    let html = std::fs::read_to_string(lb.join("leaderboard.html")).unwrap();
    let json = std::fs::read_to_string(lb.join("disclosure.json")).unwrap();
    for (name, text) in [
        ("md", &md),
        ("html", &html),
        ("json", &json),
        ("stdout", &stdout.to_string()),
    ] {
        // Ten names at most (a judge id `u7` is also a prefix of `u70`: count whole names).
        let listed = judges
            .iter()
            .filter(|j| {
                text.contains(&format!("{} (", j.0)) || text.contains(&format!("\"{}\"", j.0))
            })
            .count();
        assert!(listed <= 10, "{name} lists {listed} judges");
        assert!(text.len() < 16_000, "{name} is {} bytes", text.len());
    }
    let line = format!("judges: {n} (most battles: heavy-");
    assert!(md.contains(&line) && md.contains("judges.csv"), "{md}");
    assert!(html.contains(&line), "{html}");
    // The terminal gets the top of the table and where the rest is.
    assert!(
        stdout.contains("| alpha") && stdout.contains(&line),
        "{stdout}"
    );
    assert!(
        stdout.contains(&lb.join("leaderboard.md").display().to_string()),
        "{stdout}"
    );
}

#[test]
fn terminal_shows_the_top_of_a_long_table() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("battles.csv");
    run_ok(&[
        "arena",
        "synth",
        "--models",
        "60",
        "--battles",
        "20000",
        "--out",
        csv.to_str().unwrap(),
    ]);
    let lb = tmp.path().join("lb");
    let out = rate(&[csv.to_str().unwrap(), "--out", lb.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rows = stdout.lines().filter(|l| l.contains("| model-")).count();
    assert_eq!(rows, 20, "{stdout}");
    assert!(stdout.contains("… 40 more models"), "{stdout}");
    let md = std::fs::read_to_string(lb.join("leaderboard.md")).unwrap();
    assert!(
        md.len() > 10 * stdout.len(),
        "{} vs {}",
        md.len(),
        stdout.len()
    );
}

#[test]
fn rate_accepts_a_battles_csv_without_judge_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = String::from("question_id,model_a,model_b,winner\n");
    for i in 0..60 {
        let (a, b) = [("x", "y"), ("y", "z"), ("z", "x")][i % 3];
        let w = ["model_a", "model_a", "model_b", "tie"][i % 4];
        text.push_str(&format!("q{i},{a},{b},{w}\n"));
    }
    let csv = write(tmp.path(), "plain.csv", &text);
    let lb = tmp.path().join("lb");
    let out = rate(&[
        csv.to_str().unwrap(),
        "--out",
        lb.to_str().unwrap(),
        "--quiet",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning:")
            && stderr.contains("no `judge` column")
            && stderr.contains("`unknown`"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(lb.join("judges.csv")).unwrap(),
        "judge,battles\nunknown,60\n"
    );
    let mut rdr = csv::Reader::from_path(lb.join("leaderboard.csv")).unwrap();
    let hdr = rdr.headers().unwrap().clone();
    let votes: u64 = rdr
        .records()
        .map(|r| {
            r.unwrap()[hdr.iter().position(|h| h == "votes").unwrap()]
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(votes, 120);
    let md = std::fs::read_to_string(lb.join("leaderboard.md")).unwrap();
    assert!(
        md.contains("judges: unknown (60)") && md.contains("no \\`judge\\` column"),
        "{md}"
    );
    // Without the winner it is still not a battles file: exit 2, the column named.
    let bad = write(
        tmp.path(),
        "bad.csv",
        "model_a,model_b,result\nx,y,model_a\n",
    );
    let (code, stderr) = run_err(&[
        "arena",
        "rate",
        bad.to_str().unwrap(),
        "--out",
        lb.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no `winner` column"), "{stderr}");
}

#[test]
fn bench_arena_smoke() {
    // The benchmark script in its smallest form (a few battles, one round), so it cannot rot:
    // it builds nothing, it runs the binary under test.
    let out = std::process::Command::new(repo_root().join("scripts/bench-arena"))
        .args(["--smoke"])
        .env("EDGEBENCH_BIN", env!("CARGO_BIN_EXE_edgebench"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("arena rate") && stdout.contains("arena import"),
        "{stdout}"
    );
}

#[test]
fn import_runs_in_bounded_memory() {
    // The importer streams: under a 16 MB data limit (RLIMIT_DATA, which bounds the heap) it
    // imports a 5 MB file that the whole-file reader needed ~10× its size for (measured: the
    // old reader aborted under this limit on a 1.2 MB file). The limit is twice what the
    // streaming importer needs in a debug build (it passed at 8 MB).
    let tmp = tempfile::tempdir().unwrap();
    let recs = records(9_000, 500);
    let file = write(tmp.path(), "clean_battle.json", &as_array(&recs));
    assert!(std::fs::metadata(&file).unwrap().len() > 4 << 20);
    let csv = tmp.path().join("battles.csv");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -d 16384 && exec \"$0\" arena import \"$1\" --out \"$2\"")
        .arg(env!("CARGO_BIN_EXE_edgebench"))
        .arg(&file)
        .arg(&csv)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("9000 battles read, 7200 anonymous kept"),
        "{stdout}"
    );
    assert_eq!(read_rows(&csv).unwrap().len(), 7_200);
}
