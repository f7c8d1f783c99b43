//! Unit tests of the gate: verdicts, and what fails it.

use super::*;
use crate::report::choice::Chosen;
use crate::report::load::Cell;

fn ci(low: f64, high: f64) -> RatioCi {
    RatioCi {
        ratio: (low + high) / 2.0,
        low,
        high,
    }
}

#[test]
fn verdicts_follow_direction_and_threshold() {
    use Direction::*;
    // tok/s: 20% slower, CI entirely below 0.95.
    assert_eq!(
        verdict(HigherIsBetter, &ci(0.75, 0.85), 0.05),
        Verdict::Regressed
    );
    assert_eq!(
        verdict(HigherIsBetter, &ci(1.10, 1.30), 0.05),
        Verdict::Improved
    );
    // CI straddles the threshold: not enough evidence.
    assert_eq!(
        verdict(HigherIsBetter, &ci(0.90, 0.97), 0.05),
        Verdict::WithinNoise
    );
    assert_eq!(
        verdict(HigherIsBetter, &ci(0.97, 1.02), 0.05),
        Verdict::WithinNoise
    );
    // ms: higher ratio is worse.
    assert_eq!(
        verdict(LowerIsBetter, &ci(1.10, 1.30), 0.05),
        Verdict::Regressed
    );
    assert_eq!(
        verdict(LowerIsBetter, &ci(0.75, 0.85), 0.05),
        Verdict::Improved
    );
    assert_eq!(
        verdict(LowerIsBetter, &ci(f64::NAN, f64::NAN), 0.05),
        Verdict::TooFewSamples
    );
}

use crate::report::load::{CaseId, CaseShape, Request, Series, SeriesId};
use crate::report::metric::{N_METRICS, get};

/// One run of one backend: per case, its requests' decode tok/s (`None`: a failed request).
fn run(backend: &str, cases: &[(&str, &[Option<f64>])]) -> Dataset {
    let mut ds = Dataset::default();
    ds.series.push(Series {
        id: SeriesId {
            run: 0,
            run_id: "r".into(),
            device: "d".into(),
            backend: backend.into(),
            model: "m".into(),
        },
        label: format!("d/{backend}"),
    });
    for (case, values) in cases {
        let requests = values
            .iter()
            .map(|v| {
                let mut values = [f64::NAN; N_METRICS];
                if let Some(v) = v {
                    values[get("decode_tok_s").slot] = *v;
                }
                Request {
                    t_ms: None,
                    ok: v.is_some(),
                    values,
                }
            })
            .collect();
        ds.cells.push(Cell {
            series: 0,
            case: CaseId {
                scenario: "s".into(),
                case_id: (*case).into(),
            },
            shape: CaseShape::default(),
            requests,
            summary: Vec::new(),
            items: Vec::new(),
        });
    }
    ds
}

const GOOD: &[Option<f64>] = &[Some(50.0), Some(51.0), Some(49.0), Some(50.5)];

fn gate(base: Dataset, cand: Dataset, rules: GateRules) -> Comparison {
    let decode = get("decode_tok_s");
    compare_datasets(
        &[base],
        &[cand],
        &[Chosen::Request(decode)],
        0.05,
        rules,
        "b",
        "c",
    )
}

const STRICT: GateRules = GateRules {
    allow_missing: false,
    allow_errors: false,
};

#[test]
fn equal_runs_pass_the_gate() {
    let c = gate(run("a", &[("x", GOOD)]), run("a", &[("x", GOOD)]), STRICT);
    assert!(c.passed(), "{c:?}");
    assert_eq!(c.exit_code(), 0);
    assert_eq!(c.count(Verdict::WithinNoise), 1);
    assert!(c.problems.is_empty() && c.failure_reasons().is_empty());
}

#[test]
fn a_candidate_whose_every_request_failed_fails_the_gate() {
    let broken: &[Option<f64>] = &[None, None, None, None];
    let c = gate(run("a", &[("x", GOOD)]), run("b", &[("x", broken)]), STRICT);
    assert_eq!(c.exit_code(), 1, "{c:?}");
    // The metric is judged unjudgeable (no successful candidate request), not dropped.
    assert_eq!(c.rows.len(), 1);
    assert_eq!(c.rows[0].verdict, Verdict::TooFewSamples);
    assert_eq!(c.rows[0].candidate.n, 0);
    assert!(c.rows[0].ratio.ratio.is_nan());
    assert_eq!(c.failing(ProblemKind::NewErrors), 1);
    assert!(
        c.problems[0]
            .message
            .contains("4 of 4 candidate requests failed, against 0 of 4")
    );
    let reasons = c.failure_reasons().join("; ");
    assert!(
        reasons.contains("too few samples")
            && reasons.contains("failed requests the baseline did not"),
        "{reasons}"
    );

    // Both allowances give back the old behaviour: reported, not failing.
    let lax = GateRules {
        allow_missing: true,
        allow_errors: true,
    };
    let c = gate(run("a", &[("x", GOOD)]), run("b", &[("x", broken)]), lax);
    assert_eq!(c.exit_code(), 0, "{c:?}");
    assert!(c.problems.iter().all(|p| p.allowed));
    // One allowance alone is not enough: no successful request is still missing data.
    let errors_only = GateRules {
        allow_missing: false,
        allow_errors: true,
    };
    let c = gate(
        run("a", &[("x", GOOD)]),
        run("b", &[("x", broken)]),
        errors_only,
    );
    assert_eq!(c.exit_code(), 1);
    assert_eq!(c.failure_reasons().len(), 1, "{:?}", c.failure_reasons());
}

#[test]
fn new_failures_fail_the_gate_even_when_speed_is_unchanged() {
    let one_failed: &[Option<f64>] = &[Some(50.0), Some(51.0), Some(49.0), Some(50.5), None];
    let c = gate(
        run("a", &[("x", GOOD)]),
        run("a", &[("x", one_failed)]),
        STRICT,
    );
    assert_eq!(c.count(Verdict::WithinNoise), 1);
    assert_eq!(c.exit_code(), 1, "{c:?}");
    assert_eq!(c.problems.len(), 1);
    assert_eq!(c.problems[0].kind, ProblemKind::NewErrors);
    assert_eq!(c.problems[0].case, "a / s / x");
    let c = gate(
        run("a", &[("x", GOOD)]),
        run("a", &[("x", one_failed)]),
        GateRules {
            allow_missing: false,
            allow_errors: true,
        },
    );
    assert_eq!(c.exit_code(), 0, "{c:?}");
    // The same share of failures on both sides is not new: a warning, not a failure.
    let c = gate(
        run("a", &[("x", one_failed)]),
        run("a", &[("x", one_failed)]),
        STRICT,
    );
    assert_eq!(c.exit_code(), 0, "{c:?}");
    assert!(c.problems.is_empty());
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("1 of 5 candidate requests failed"))
    );
}

#[test]
fn sides_without_a_shared_case_fail_the_gate() {
    let c = gate(run("a", &[("x", GOOD)]), run("a", &[("y", GOOD)]), STRICT);
    assert!(c.rows.is_empty());
    assert_eq!(c.exit_code(), 1);
    assert_eq!(c.failing(ProblemKind::Missing), 1);
    assert_eq!(c.failing(ProblemKind::NothingCompared), 1);
    assert!(
        c.failure_reasons()
            .join(";")
            .contains("the gate checks nothing")
    );
    // A candidate-only case is new, not lost: a warning.
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("only in the candidate"))
    );
    let lax = GateRules {
        allow_missing: true,
        allow_errors: false,
    };
    let c = gate(run("a", &[("x", GOOD)]), run("a", &[("y", GOOD)]), lax);
    assert_eq!(c.exit_code(), 0);
}

#[test]
fn a_lost_baseline_case_fails_the_gate_while_the_rest_is_judged() {
    let c = gate(
        run("a", &[("x", GOOD), ("z", GOOD)]),
        run("a", &[("x", GOOD)]),
        STRICT,
    );
    assert_eq!(c.count(Verdict::WithinNoise), 1);
    assert_eq!(c.exit_code(), 1);
    assert_eq!(c.problems.len(), 1);
    assert!(
        c.problems[0]
            .message
            .contains("a / s / z: in the baseline but not in the candidate")
    );
}

#[test]
fn too_few_successful_requests_fail_the_gate_unless_allowed() {
    let two: &[Option<f64>] = &[Some(50.0), Some(50.0)];
    let c = gate(run("a", &[("x", two)]), run("a", &[("x", GOOD)]), STRICT);
    assert_eq!(c.count(Verdict::TooFewSamples), 1);
    assert!(c.problems.is_empty());
    assert_eq!(c.exit_code(), 1);
    let lax = GateRules {
        allow_missing: true,
        allow_errors: false,
    };
    let c = gate(run("a", &[("x", two)]), run("a", &[("x", GOOD)]), lax);
    assert_eq!(c.exit_code(), 0);
}

#[test]
fn a_metric_no_side_measures_is_left_out_and_a_regression_still_fails() {
    // Successful requests without server timings on either side: nothing to judge there.
    let server = get("server_decode_tok_s");
    let decode = get("decode_tok_s");
    let slow: &[Option<f64>] = &[Some(30.0), Some(31.0), Some(29.0), Some(30.5)];
    let c = compare_datasets(
        &[run("a", &[("x", GOOD)])],
        &[run("a", &[("x", slow)])],
        &[Chosen::Request(decode), Chosen::Request(server)],
        0.05,
        STRICT,
        "b",
        "c",
    );
    assert_eq!(c.rows.len(), 1, "{c:?}");
    assert_eq!(c.count(Verdict::Regressed), 1);
    assert_eq!(c.exit_code(), 1);
    assert!(c.failure_reasons()[0].contains("1 regression(s)"));
}

#[test]
fn thresholds_parse() {
    assert_eq!(parse_threshold("5%").unwrap(), 0.05);
    assert_eq!(parse_threshold("5").unwrap(), 0.05);
    assert_eq!(parse_threshold("0.05").unwrap(), 0.05);
    assert_eq!(parse_threshold(" 12.5 % ").unwrap(), 0.125);
    assert!(parse_threshold("abc").is_err());
    assert!(parse_threshold("-5%").is_err());
    assert!(parse_threshold("150%").is_err());
}

/// One run of backend `a` whose tool-call case `x` answered `k` of `n` items right.
fn items_run(k: usize, n: usize) -> Dataset {
    let mut ds = run("a", &[("x", GOOD)]);
    ds.cells[0].shape.kind = "tool_calls".into();
    ds.cells[0].items = (0..n)
        .map(|i| crate::report::load::Item {
            item_id: format!("i{i}"),
            category: if i % 2 == 0 { "simple" } else { "parallel" }.into(),
            pass: i < k,
            ..Default::default()
        })
        .collect();
    ds
}

fn accuracy_gate(base: Dataset, cand: Dataset, metric: &str) -> Comparison {
    let m = crate::report::choice::parse_list(&[metric.to_string()]).unwrap();
    compare_datasets(&[base], &[cand], &m, 0.05, STRICT, "b", "c")
}

#[test]
fn an_accuracy_drop_beyond_the_threshold_fails_the_gate_and_a_small_one_does_not() {
    // 7/8 → 2/8: −62.5 points, Newcombe interval −83.1 … −13.9: regressed.
    let c = accuracy_gate(items_run(7, 8), items_run(2, 8), "accuracy");
    assert_eq!(c.rows.len(), 1, "{c:?}");
    let r = &c.rows[0];
    assert_eq!(r.verdict, Verdict::Regressed);
    let d = r.difference.unwrap();
    assert!((d.diff + 0.625).abs() < 1e-12);
    assert!(
        (d.low + 0.8309).abs() < 1e-3 && (d.high + 0.1395).abs() < 1e-3,
        "{d:?}"
    );
    assert_eq!((r.baseline.n, r.candidate.n), (8, 8));
    assert!(r.ratio.ratio.is_nan());
    assert_eq!(c.exit_code(), 1);
    // 7/8 → 5/8: the interval reaches above zero: within noise, the gate passes.
    let c = accuracy_gate(items_run(7, 8), items_run(5, 8), "accuracy");
    assert_eq!(c.rows[0].verdict, Verdict::WithinNoise);
    assert_eq!(c.exit_code(), 0);
    // The same drop, read through one category (the even items are `simple`).
    let c = accuracy_gate(items_run(8, 8), items_run(0, 8), "accuracy:simple");
    assert_eq!(c.rows[0].verdict, Verdict::Regressed);
    assert_eq!(c.rows[0].baseline.n, 4);
}

#[test]
fn accuracy_without_items_is_not_judged_and_too_few_items_fail() {
    // A speed case has no items: nothing to judge, and a gate of nothing fails.
    let c = gate_of_nothing();
    assert!(c.rows.is_empty());
    assert_eq!(c.failing(ProblemKind::NothingCompared), 1);
    // Two items a side: too few samples.
    let c = accuracy_gate(items_run(2, 2), items_run(0, 2), "accuracy");
    assert_eq!(c.rows[0].verdict, Verdict::TooFewSamples);
    assert_eq!(c.exit_code(), 1);
    // Compliance counts structured items only: the tool-call case has none.
    let c = accuracy_gate(items_run(7, 8), items_run(2, 8), "compliance");
    assert!(c.rows.is_empty());
}

fn gate_of_nothing() -> Comparison {
    accuracy_gate(
        run("a", &[("x", GOOD)]),
        run("a", &[("x", GOOD)]),
        "accuracy",
    )
}
