//! Arena rankings: known truth, invariances, reproducibility and import. The vote page in
//! headless Chromium is in `arena_vote_page.rs`, the judge loop in `arena_judge.rs`.

use edgebench::arena::battles::{BattleRow, Battles, Winner, read_rows};
use edgebench::arena::rate::{Leaderboard, RateOptions, rate_battles};
use edgebench::arena::synth::Synth;
use serde_json::{Value, json};

use crate::common::*;

const ELO: f64 = 400.0 / std::f64::consts::LN_10;

/// Five models with well-separated strengths, 20,000 battles with 10% ties.
fn known() -> (Synth, Vec<BattleRow>) {
    let s = Synth {
        models: ["m-a", "m-b", "m-c", "m-d", "m-e"]
            .map(String::from)
            .to_vec(),
        theta: vec![-1.2, 0.5, -0.6, 1.1, 0.0],
    };
    let rows = s.rows(20_000, 0.1, 7);
    (s, rows)
}

fn rated(rows: &[BattleRow], opts: RateOptions) -> Leaderboard {
    let b = Battles::from_rows(rows, opts.style).unwrap();
    rate_battles(&b, &opts, vec!["test".into()]).unwrap()
}

fn by_model(lb: &Leaderboard) -> std::collections::BTreeMap<String, (f64, f64, f64)> {
    lb.rows
        .iter()
        .map(|r| (r.model.clone(), (r.rating, r.ci_low, r.ci_high)))
        .collect()
}

/// An independent maximum-likelihood fit: per battle (no aggregation), θ of the last model
/// fixed at 0, no ridge, Newton with Gaussian elimination. Returns mean-1000 Elo ratings.
fn independent_newton(models: &[String], rows: &[BattleRow]) -> Vec<f64> {
    let k = models.len();
    let idx = |m: &str| models.iter().position(|x| x == m).unwrap();
    let data: Vec<(usize, usize, f64)> = rows
        .iter()
        .map(|r| {
            (
                idx(&r.model_a),
                idx(&r.model_b),
                match Winner::parse(&r.winner).unwrap() {
                    Winner::A => 1.0,
                    Winner::B => 0.0,
                    _ => 0.5,
                },
            )
        })
        .collect();
    let n = k - 1;
    let mut th = vec![0.0f64; k];
    for _ in 0..100 {
        let mut g = vec![0.0; n];
        let mut h = vec![vec![0.0; n]; n];
        for &(a, b, y) in &data {
            let p = 1.0 / (1.0 + (th[b] - th[a]).exp());
            let w = p * (1.0 - p);
            for (u, su) in [(a, 1.0), (b, -1.0)] {
                if u < n {
                    g[u] += su * (y - p);
                    for (v, sv) in [(a, 1.0), (b, -1.0)] {
                        if v < n {
                            h[u][v] += su * sv * w;
                        }
                    }
                }
            }
        }
        // Solve h Δ = g (h is the negative Hessian) by elimination with partial pivoting.
        let mut m: Vec<Vec<f64>> = h
            .iter()
            .zip(&g)
            .map(|(r, gi)| r.iter().copied().chain([*gi]).collect())
            .collect();
        for c in 0..n {
            let piv = (c..n)
                .max_by(|&x, &y| m[x][c].abs().total_cmp(&m[y][c].abs()))
                .unwrap();
            m.swap(c, piv);
            for r in 0..n {
                if r != c {
                    let f = m[r][c] / m[c][c];
                    for j in c..=n {
                        m[r][j] -= f * m[c][j];
                    }
                }
            }
        }
        let step: Vec<f64> = (0..n).map(|i| m[i][n] / m[i][i]).collect();
        for i in 0..n {
            th[i] += step[i];
        }
        if step.iter().all(|s| s.abs() < 1e-14) {
            break;
        }
    }
    let mean = th.iter().sum::<f64>() / k as f64;
    th.iter().map(|t| 1000.0 + ELO * (t - mean)).collect()
}

#[test]
fn known_truth_is_recovered_and_matches_an_independent_fit() {
    let (s, rows) = known();
    let lb = rated(
        &rows,
        RateOptions {
            rounds: 200,
            ..Default::default()
        },
    );
    // The order of the fit is the order of the true strengths.
    let mut truth: Vec<(String, f64)> = s
        .models
        .iter()
        .cloned()
        .zip(s.theta.iter().copied())
        .collect();
    truth.sort_by(|a, b| b.1.total_cmp(&a.1));
    let fitted: Vec<&str> = lb.rows.iter().map(|r| r.model.as_str()).collect();
    assert_eq!(
        fitted,
        truth.iter().map(|t| t.0.as_str()).collect::<Vec<_>>()
    );
    // Point estimates agree with the independent per-battle Newton fit to 1e-6 Elo.
    let models: Vec<String> = {
        let mut m = s.models.clone();
        m.sort();
        m
    };
    let indep = independent_newton(&models, &rows);
    let got = by_model(&lb);
    for (m, r) in models.iter().zip(&indep) {
        assert!((got[m].0 - r).abs() < 1e-6, "{m}: {} vs {r}", got[m].0);
    }
    // The truth (centred, on the Elo scale) is near each estimate: within twice the interval.
    let mean = s.theta.iter().sum::<f64>() / 5.0;
    for (m, t) in s.models.iter().zip(&s.theta) {
        let (r, lo, hi) = got[m];
        let truth = 1000.0 + ELO * (t - mean);
        assert!(lo < r && r < hi, "{m}: {lo} {r} {hi}");
        assert!(
            (truth - r).abs() < (hi - lo),
            "{m}: truth {truth}, fit {r} [{lo}, {hi}]"
        );
    }
    // Clearly separated models get distinct ranks, and everything adds up.
    assert!(
        lb.rows.iter().all(|r| r.rank_ub == r.rank_worst),
        "{:?}",
        lb.rows
    );
    assert_eq!(lb.rows.iter().map(|r| r.votes).sum::<u64>(), 40_000);
    assert!(
        lb.rows
            .iter()
            .all(|r| !r.provisional && r.sandwich_low.unwrap() < r.rating)
    );
    // Online Elo agrees on who is best and worst.
    let best = lb
        .rows
        .iter()
        .max_by(|a, b| a.online_elo.total_cmp(&b.online_elo))
        .unwrap();
    assert_eq!(best.model, "m-d");
}

#[test]
fn anchoring_shifts_by_a_constant_and_swapping_sides_changes_nothing() {
    let (_, rows) = known();
    let base = rated(
        &rows,
        RateOptions {
            rounds: 100,
            ..Default::default()
        },
    );
    let anchored = rated(
        &rows,
        RateOptions {
            rounds: 100,
            anchor: Some(("m-c".into(), 1200.0)),
            ..Default::default()
        },
    );
    let (b, a) = (by_model(&base), by_model(&anchored));
    assert_eq!(a["m-c"].0, 1200.0);
    let shift = a["m-a"].0 - b["m-a"].0;
    for m in b.keys() {
        assert!((a[m].0 - b[m].0 - shift).abs() < 1e-9, "{m}");
    }
    // The anchor's own interval collapses: it is pinned in every bootstrap round.
    assert!((a["m-c"].2 - a["m-c"].1).abs() < 1e-9);
    // Mean 1000 without an anchor.
    assert!((b.values().map(|x| x.0).sum::<f64>() / 5.0 - 1000.0).abs() < 1e-9);

    // Every battle written from the other side, rows in reverse order.
    let swapped: Vec<BattleRow> = rows
        .iter()
        .rev()
        .map(|r| BattleRow {
            model_a: r.model_b.clone(),
            model_b: r.model_a.clone(),
            winner: Winner::parse(&r.winner).unwrap().mirrored().as_str().into(),
            ..r.clone()
        })
        .collect();
    let sw = by_model(&rated(
        &swapped,
        RateOptions {
            rounds: 100,
            ..Default::default()
        },
    ));
    for m in b.keys() {
        assert!(
            (sw[m].0 - b[m].0).abs() < 1e-9,
            "{m}: {} vs {}",
            sw[m].0,
            b[m].0
        );
        assert_eq!(
            (sw[m].1, sw[m].2),
            (b[m].1, b[m].2),
            "{m}: bootstrap intervals differ"
        );
    }
}

#[test]
fn bootstrap_is_reproducible_for_a_seed() {
    let (_, rows) = known();
    let run = |seed, threads| {
        rated(
            &rows,
            RateOptions {
                rounds: 300,
                seed,
                threads,
                ..Default::default()
            },
        )
        .rows
    };
    let a = run(11, 1);
    assert_eq!(a, run(11, 2), "same seed, other thread count");
    assert_eq!(a, run(11, 1));
    let c = run(12, 2);
    assert!(
        a.iter().zip(&c).any(|(x, y)| x.ci_low != y.ci_low),
        "another seed should move the intervals"
    );
}

#[test]
fn style_control_separates_length_from_quality() {
    // Two equally good models; `verbose` tends to write longer answers, and the voters prefer
    // the longer answer whoever wrote it: P(A wins) = σ(3 (len_A − len_B) / (len_A + len_B)).
    let mut state = 12345u64;
    let mut rnd = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut rows = Vec::new();
    for i in 0..8000 {
        let (a, b) = if i % 2 == 0 {
            ("verbose", "terse")
        } else {
            ("terse", "verbose")
        };
        let mut len = |m: &str| {
            if m == "verbose" {
                150.0 + 300.0 * rnd()
            } else {
                50.0 + 300.0 * rnd()
            }
        };
        let (la, lb) = (len(a).round(), len(b).round());
        let p_a = 1.0 / (1.0 + (-3.0 * (la - lb) / (la + lb)).exp());
        rows.push(BattleRow {
            battle_id: i.to_string(),
            model_a: a.into(),
            model_b: b.into(),
            winner: if rnd() < p_a { "model_a" } else { "model_b" }.into(),
            judge: "h".into(),
            tokens_a: Some(la as u64),
            tokens_b: Some(lb as u64),
            headers_a: Some(0),
            headers_b: Some(0),
            lists_a: Some(0),
            lists_b: Some(0),
            bold_a: Some(0),
            bold_b: Some(0),
            ..Default::default()
        });
    }
    let lb = rated(
        &rows,
        RateOptions {
            rounds: 0,
            style: true,
            ..Default::default()
        },
    );
    let m = |name: &str| lb.rows.iter().find(|r| r.model == name).unwrap().clone();
    let plain = m("verbose").rating - m("terse").rating;
    let styled = m("verbose").style_rating.unwrap() - m("terse").style_rating.unwrap();
    assert!(plain > 40.0, "plain gap {plain}");
    assert!(styled.abs() < 25.0, "style-controlled gap {styled}");
    assert!(m("verbose").style_rank_ub.is_some());
    let coef = lb.disclosure.style_control.as_ref().unwrap();
    assert_eq!(coef[0].0, "tokens");
    assert!(coef[0].1 > 0.3, "{coef:?}");
}

#[test]
fn import_fastchat_battles_and_rate_them() {
    let tmp = tempfile::tempdir().unwrap();
    let records = json!([
        {"model_a": "alpha", "model_b": "beta", "winner": "model_a", "judge": "u1", "turn": 1, "anony": true, "tstamp": 10.0},
        {"model_a": "alpha", "model_b": "beta", "winner": "model_a", "judge": "u2", "turn": 1, "anony": true, "tstamp": 11.0},
        {"model_a": "beta", "model_b": "alpha", "winner": "tie", "judge": "u3", "turn": 1, "anony": true, "tstamp": 12.0},
        {"model_a": "beta", "model_b": "evil<script>alert(1)</script>", "winner": "tie (bothbad)", "judge": "u1", "turn": 2, "anony": true, "tstamp": 13.0,
         "conv_metadata": {"sum_assistant_a_tokens": 12, "sum_assistant_b_tokens": 30, "header_count_a": {"h1": 1}, "header_count_b": {"h1": 0},
                           "list_count_a": {"ordered": 0, "unordered": 2}, "list_count_b": {"ordered": 0, "unordered": 0},
                           "bold_count_a": {"**": 1, "__": 0}, "bold_count_b": {"**": 0, "__": 0}}},
        {"model_a": "evil<script>alert(1)</script>", "model_b": "alpha", "winner": "model_b", "judge": "u4", "turn": 1, "anony": true, "tstamp": 14.0},
        {"model_a": "alpha", "model_b": "beta", "winner": "model_b", "judge": "u5", "turn": 1, "anony": false, "tstamp": 15.0},
        {"model_a": "beta", "model_b": "alpha", "winner": "model_a", "judge": "u6", "turn": 1, "anony": false, "tstamp": 16.0}
    ]);
    let file = write(
        tmp.path(),
        "clean_battle.json",
        &serde_json::to_string_pretty(&records).unwrap(),
    );
    let battles = tmp.path().join("battles.csv");
    let out = edgebench()
        .args(["arena", "import"])
        .arg(&file)
        .arg("--out")
        .arg(&battles)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("7 battles read, 5 anonymous kept, 2 named skipped"),
        "{stdout}"
    );
    let rows = read_rows(&battles).unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[3].winner, "tie (bothbad)");
    assert_eq!(
        (
            rows[3].tokens_a,
            rows[3].tokens_b,
            rows[3].headers_a,
            rows[3].lists_a,
            rows[3].bold_a
        ),
        (Some(12), Some(30), Some(1), Some(2), Some(1))
    );
    assert_eq!(rows[0].tokens_a, None);

    let lb_dir = tmp.path().join("lb");
    let out = edgebench()
        .args([
            "arena",
            "rate",
            "--rounds",
            "50",
            "--min-votes",
            "4",
            "--quiet",
        ])
        .arg(&battles)
        .arg("--out")
        .arg(&lb_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rdr = csv::Reader::from_path(lb_dir.join("leaderboard.csv")).unwrap();
    let hdr = rdr.headers().unwrap().clone();
    let recs: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    let col = |r: &csv::StringRecord, name: &str| {
        r[hdr.iter().position(|h| h == name).unwrap()].to_string()
    };
    let get = |m: &str| recs.iter().find(|r| col(r, "model") == m).unwrap().clone();
    // alpha: 2 wins + 1 tie vs beta, 1 win vs evil → 4 votes, 3 wins.
    assert_eq!(
        (
            col(&get("alpha"), "votes"),
            col(&get("alpha"), "wins"),
            col(&get("alpha"), "ties")
        ),
        ("4".into(), "3".into(), "1".into())
    );
    assert_eq!(
        (
            col(&get("beta"), "votes"),
            col(&get("beta"), "losses"),
            col(&get("beta"), "ties")
        ),
        ("4".into(), "2".into(), "2".into())
    );
    assert_eq!(col(&get("evil<script>alert(1)</script>"), "votes"), "2");
    assert_eq!(
        col(&get("evil<script>alert(1)</script>"), "provisional"),
        "true"
    );
    assert_eq!(col(&get("alpha"), "provisional"), "false");
    assert_eq!(col(&recs[0], "model"), "alpha");
    let d: Value =
        serde_json::from_str(&std::fs::read_to_string(lb_dir.join("disclosure.json")).unwrap())
            .unwrap();
    assert_eq!(d["battles"], 5);
    let pair = d["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["model_x"] == "alpha" && p["model_y"] == "beta")
        .unwrap();
    assert_eq!(
        (
            pair["battles"].as_u64(),
            pair["wins_x"].as_u64(),
            pair["ties"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );
    // Hostile model names stay text in HTML and Markdown.
    let html = std::fs::read_to_string(lb_dir.join("leaderboard.html")).unwrap();
    assert!(
        html.contains("evil&lt;script&gt;alert(1)&lt;&#x2f;script&gt;")
            || html.contains("evil&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script"));
    let md = std::fs::read_to_string(lb_dir.join("leaderboard.md")).unwrap();
    assert!(
        !md.contains("<script") && md.contains("## Disclosure") && md.contains("Minimum votes: 4")
    );

    // Bad input: exit 2 with the battle named.
    let bad = write(
        tmp.path(),
        "bad.json",
        r#"[{"model_a":"x","model_b":"y","winner":"leftvote","anony":true}]"#,
    );
    edgebench()
        .args(["arena", "import"])
        .arg(&bad)
        .arg("--out")
        .arg(tmp.path().join("b2.csv"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("leftvote"));
    edgebench()
        .args(["arena", "rate", "--anchor", "nobody=1000"])
        .arg(&battles)
        .arg("--out")
        .arg(&lb_dir)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("nobody"));
}
