//! Request-rate cases in a report: the Load section (one table per series and prompt/output
//! point, rows per offered rate), the data of the load charts, and a sweep's answer as one
//! headline line per series.
//!
//! Everything comes from summary.csv (`offered_rate`, `requests_per_s`, latency rows,
//! `goodput`, `slo_good_share`, `send_lag_ms`, `max_sustainable_rate`); the SLO's bounds, which
//! summary.csv does not hold, from sweep.json or else from the scenario file run.json names.

use std::collections::BTreeMap;
use std::path::Path;

use super::load::{Cell, Dataset};
use crate::results::SummaryRow;

/// Schedule lag (p99, ms) above which the client, not the server, set the pace.
pub const LAG_LIMIT_MS: f64 = 10.0;

/// One rate case, as numbers (NaN = not in summary.csv).
#[derive(Debug, Clone)]
pub struct RatePoint {
    pub case_id: String,
    pub offered: f64,
    pub achieved: f64,
    pub ttft_p50: f64,
    pub ttft_p99: f64,
    pub tpot_p50: f64,
    pub e2e_p99: f64,
    pub goodput: f64,
    /// (share, ci_low, ci_high, n) from `slo_good_share`.
    pub share: Option<(f64, f64, f64, usize)>,
    pub lag: (f64, f64, f64),
}

/// One series × prompt/output point: its rate cases by ascending offered rate.
#[derive(Debug, Clone)]
pub struct Curve {
    pub series: usize,
    pub scenario: String,
    pub prompt_tokens: u32,
    pub max_tokens: u32,
    pub points: Vec<RatePoint>,
    pub slo: BTreeMap<String, f64>,
    /// The sweep's interval for this series and point: (max sustainable, lowest failing).
    pub knee: Option<(f64, f64)>,
}

fn stat(cell: &Cell, metric: &str, f: impl Fn(&SummaryRow) -> f64) -> f64 {
    cell.summary_row(metric).map_or(f64::NAN, f)
}

fn point(cell: &Cell) -> Option<RatePoint> {
    let offered = cell.summary_row("offered_rate")?.mean;
    Some(RatePoint {
        case_id: cell.case.case_id.clone(),
        offered,
        achieved: stat(cell, "requests_per_s", |r| r.mean),
        ttft_p50: stat(cell, "ttft_ms", |r| r.p50),
        ttft_p99: stat(cell, "ttft_ms", |r| r.p99),
        tpot_p50: stat(cell, "tpot_ms", |r| r.p50),
        e2e_p99: stat(cell, "e2e_ms", |r| r.p99),
        goodput: stat(cell, "goodput", |r| r.mean),
        share: cell
            .summary_row("slo_good_share")
            .map(|r| (r.mean, r.ci_low, r.ci_high, r.n)),
        lag: (
            stat(cell, "send_lag_ms", |r| r.p50),
            stat(cell, "send_lag_ms", |r| r.p99),
            stat(cell, "send_lag_ms", |r| r.max),
        ),
    })
}

/// The run folder a series was read from (a CSV given alone: its folder).
fn run_dir(ds: &Dataset, series: usize) -> Option<&Path> {
    let src = &ds.runs.get(ds.series[series].id.run)?.source;
    if src.is_dir() {
        Some(src)
    } else {
        src.parent()
    }
}

/// sweep.json entries of a series' run and backend (none when there is no such file).
pub fn sweep_entries(ds: &Dataset, series: usize) -> Vec<serde_json::Value> {
    let Some(dir) = run_dir(ds, series) else {
        return vec![];
    };
    let Ok(text) = std::fs::read_to_string(dir.join("sweep.json")) else {
        return vec![];
    };
    let backend = &ds.series[series].id.backend;
    serde_json::from_str::<Vec<serde_json::Value>>(&text)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["backend"].as_str() == Some(backend))
        .collect()
}

fn slo_of_json(v: &serde_json::Value) -> BTreeMap<String, f64> {
    v.as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// The SLO bounds (ms) of a scenario: from sweep.json, else from the scenario file named in
/// run.json (read as plain TOML; none when it has moved).
fn slo_of(
    ds: &Dataset,
    series: usize,
    scenario: &str,
    sweeps: &[serde_json::Value],
) -> BTreeMap<String, f64> {
    if let Some(e) = sweeps
        .iter()
        .find(|e| e["scenario"].as_str() == Some(scenario))
    {
        return slo_of_json(&e["slo"]);
    }
    let Some(rec) = ds
        .manifest_of(series)
        .and_then(|m| m.scenarios.iter().find(|s| s.name == scenario))
    else {
        return BTreeMap::new();
    };
    let Ok(text) = std::fs::read_to_string(&rec.path) else {
        return BTreeMap::new();
    };
    let Ok(v) = toml::from_str::<toml::Value>(&text) else {
        return BTreeMap::new();
    };
    v.get("slo")
        .and_then(|s| s.as_table())
        .map(|t| {
            t.iter()
                .filter_map(|(k, v)| {
                    Some((
                        k.clone(),
                        v.as_float().or(v.as_integer().map(|i| i as f64))?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every series × point with request-rate cases, in first-seen order.
pub fn curves(ds: &Dataset) -> Vec<Curve> {
    let mut out: Vec<Curve> = Vec::new();
    let mut sweeps: BTreeMap<usize, Vec<serde_json::Value>> = BTreeMap::new();
    for cell in &ds.cells {
        let Some(p) = point(cell) else { continue };
        let sh = &cell.shape;
        let key = |c: &Curve| {
            c.series == cell.series
                && c.scenario == cell.case.scenario
                && c.prompt_tokens == sh.prompt_tokens
                && c.max_tokens == sh.max_tokens
        };
        if let Some(c) = out.iter_mut().find(|c| key(c)) {
            c.points.push(p);
            continue;
        }
        let sw = sweeps
            .entry(cell.series)
            .or_insert_with(|| sweep_entries(ds, cell.series));
        let slo = slo_of(ds, cell.series, &cell.case.scenario, sw);
        let point_id = format!("pp{}_tg{}_sweep", sh.prompt_tokens, sh.max_tokens);
        let knee = ds
            .cells
            .iter()
            .filter(|c| c.series == cell.series && c.case.scenario == cell.case.scenario)
            .filter(|c| c.case.case_id == point_id)
            .find_map(|c| c.summary_row("max_sustainable_rate"))
            .filter(|r| !r.ci_low.is_nan())
            .map(|r| (r.ci_low, r.ci_high));
        out.push(Curve {
            series: cell.series,
            scenario: cell.case.scenario.clone(),
            prompt_tokens: sh.prompt_tokens,
            max_tokens: sh.max_tokens,
            points: vec![p],
            slo,
            knee,
        });
    }
    for c in &mut out {
        c.points.sort_by(|a, b| a.offered.total_cmp(&b.offered));
    }
    out
}

/// The SLO in words: `TTFT ≤ 2000 ms, TPOT ≤ 100 ms`.
pub fn slo_words(slo: &BTreeMap<String, f64>) -> String {
    let name = |k: &str| {
        match k {
            "ttft_ms" => "TTFT",
            "tpot_ms" => "TPOT",
            "itl_ms" => "ITL",
            "e2e_ms" => "E2E",
            other => other,
        }
        .to_string()
    };
    ["ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"]
        .iter()
        .filter_map(|k| {
            slo.get(*k)
                .map(|v| format!("{} ≤ {} ms", name(k), plain(*v)))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LoadRowView {
    pub case: String,
    pub offered: String,
    pub achieved: String,
    pub ttft_p50: String,
    pub ttft_p99: String,
    pub tpot_p50: String,
    pub e2e_p99: String,
    pub goodput: String,
    pub slo_share: String,
    pub lag_p50: String,
    pub lag_p99: String,
    pub lag_max: String,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LoadTableView {
    /// `device/backend (model)`.
    pub series: String,
    pub scenario: String,
    /// `prompt 512 / output 128`.
    pub point: String,
    /// The SLO in words; empty without one.
    pub slo: String,
    pub rows: Vec<LoadRowView>,
    /// Set when some row's p99 schedule lag passed [`LAG_LIMIT_MS`].
    pub lag_warning: String,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LoadSection {
    /// A sweep's answer per series and point, one line each.
    pub headlines: Vec<String>,
    pub tables: Vec<LoadTableView>,
}

/// A bound or a percentage as a person writes it: `2000`, `95`, `0.5` (at most 3 decimals).
pub fn plain(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Two decimals for rates and ms (enough to match summary.csv to the figure shown).
pub fn f2(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{v:.2}")
    }
}

fn share_words((s, lo, hi, n): (f64, f64, f64, usize)) -> String {
    format!(
        "{:.1}% [{:.1}, {:.1}] (n={n})",
        s * 100.0,
        lo * 100.0,
        hi * 100.0
    )
}

fn series_words(ds: &Dataset, si: usize) -> String {
    let id = &ds.series[si].id;
    format!("{} ({})", ds.series[si].label, id.model)
}

/// The Load section: empty when the inputs hold no request-rate case and no sweep answer.
pub fn build(ds: &Dataset) -> LoadSection {
    let tables = curves(ds)
        .iter()
        .map(|c| {
            let with_slo = c.points.iter().any(|p| p.share.is_some());
            let lagging: Vec<&str> = c
                .points
                .iter()
                .filter(|p| p.lag.1 > LAG_LIMIT_MS)
                .map(|p| p.case_id.as_str())
                .collect();
            LoadTableView {
                series: series_words(ds, c.series),
                scenario: c.scenario.clone(),
                point: format!("prompt {} / output {}", c.prompt_tokens, c.max_tokens),
                slo: if with_slo {
                    let w = slo_words(&c.slo);
                    if w.is_empty() { "given (bounds not found)".into() } else { w }
                } else {
                    String::new()
                },
                rows: c
                    .points
                    .iter()
                    .map(|p| LoadRowView {
                        case: p.case_id.clone(),
                        offered: f2(p.offered),
                        achieved: f2(p.achieved),
                        ttft_p50: f2(p.ttft_p50),
                        ttft_p99: f2(p.ttft_p99),
                        tpot_p50: f2(p.tpot_p50),
                        e2e_p99: f2(p.e2e_p99),
                        goodput: f2(p.goodput),
                        slo_share: p.share.map(share_words).unwrap_or_else(|| "-".into()),
                        lag_p50: f2(p.lag.0),
                        lag_p99: f2(p.lag.1),
                        lag_max: f2(p.lag.2),
                    })
                    .collect(),
                lag_warning: if lagging.is_empty() {
                    String::new()
                } else {
                    format!(
                        "schedule lag p99 > {LAG_LIMIT_MS} ms in {}: the client could not keep up; these rates are not the server's",
                        lagging.join(", ")
                    )
                },
            }
        })
        .collect();
    LoadSection {
        headlines: headlines(ds),
        tables,
    }
}

/// One line per `max_sustainable_rate` row, in the words of the terminal's answer.
pub fn headlines(ds: &Dataset) -> Vec<String> {
    let mut out = Vec::new();
    for cell in &ds.cells {
        let Some(row) = cell.summary_row("max_sustainable_rate") else {
            continue;
        };
        let sweeps = sweep_entries(ds, cell.series);
        let entry = sweeps.iter().find(|e| {
            e["case_id"].as_str() == Some(&cell.case.case_id)
                && e["scenario"].as_str() == Some(&cell.case.scenario)
        });
        let slo = entry
            .map(|e| slo_of_json(&e["slo"]))
            .unwrap_or_else(|| slo_of(ds, cell.series, &cell.case.scenario, &[]));
        let target = entry
            .and_then(|e| e["target"].as_f64())
            .map_or(String::new(), |t| {
                format!(" for {}% of requests", plain(t * 100.0))
            });
        let at = if slo.is_empty() {
            "at its SLO".to_string()
        } else {
            format!("at {}", slo_words(&slo))
        };
        let id = &ds.series[cell.series].id;
        let who = format!("{} on {} ({})", id.backend, id.device, id.model);
        let point = format!(
            "prompt {} / output {}",
            cell.shape.prompt_tokens, cell.shape.max_tokens
        );
        let answer = if row.mean.is_nan() {
            format!(
                "no sustainable rate {at}{target}, {point}: even the lowest rate run missed the target"
            )
        } else {
            let hi = if row.ci_high.is_nan() {
                "no failing rate up to saturation".to_string()
            } else {
                format!("{:.3}", row.ci_high)
            };
            format!(
                "{:.3} req/s [{:.3}, {hi}] {at}{target}, {point}",
                row.mean, row.ci_low
            )
        };
        let converged = if row.flags.split(';').any(|f| f == "not_converged") {
            " — not converged: the run budget ran out before the interval closed"
        } else {
            ""
        };
        out.push(format!("{who}: {answer}{converged}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::load::{CaseId, CaseShape, RunInfo, Series, SeriesId};

    fn row(metric: &str, mean: f64, lo: f64, hi: f64, flags: &str) -> SummaryRow {
        SummaryRow {
            metric: metric.into(),
            mean,
            ci_low: lo,
            ci_high: hi,
            p50: mean,
            p99: hi,
            max: hi,
            flags: flags.into(),
            ..Default::default()
        }
    }

    /// One series, one cell per (case id, summary rows); no run folder, so no sweep.json.
    fn dataset(cells: Vec<(&str, Vec<SummaryRow>)>) -> Dataset {
        Dataset {
            runs: vec![RunInfo {
                source: "/nonexistent/run".into(),
                manifest: None,
            }],
            series: vec![Series {
                id: SeriesId {
                    run: 0,
                    run_id: "r".into(),
                    device: "phone".into(),
                    backend: "srv".into(),
                    model: "m".into(),
                },
                label: "phone/srv".into(),
            }],
            cells: cells
                .into_iter()
                .map(|(id, summary)| Cell {
                    series: 0,
                    case: CaseId {
                        scenario: "s".into(),
                        case_id: id.into(),
                    },
                    shape: CaseShape {
                        kind: "throughput".into(),
                        prompt_tokens: 512,
                        max_tokens: 128,
                        concurrency: 1,
                    },
                    requests: vec![],
                    summary,
                    items: vec![],
                })
                .collect(),
            warnings: vec![],
        }
    }

    #[test]
    fn the_headline_says_no_rate_and_not_converged_plainly() {
        let nan = f64::NAN;
        let ds = dataset(vec![(
            "pp512_tg128_sweep",
            vec![row("max_sustainable_rate", nan, nan, 0.5, "not_converged")],
        )]);
        let h = headlines(&ds);
        assert_eq!(h.len(), 1);
        assert!(
            h[0].starts_with(
                "srv on phone (m): no sustainable rate at its SLO, prompt 512 / output 128"
            ),
            "{}",
            h[0]
        );
        assert!(h[0].contains("not converged"), "{}", h[0]);

        let ds = dataset(vec![(
            "pp512_tg128_sweep",
            vec![row("max_sustainable_rate", 3.4, 3.4, 3.6, "converged")],
        )]);
        assert_eq!(
            headlines(&ds),
            ["srv on phone (m): 3.400 req/s [3.400, 3.600] at its SLO, prompt 512 / output 128"]
        );
    }

    #[test]
    fn rate_cases_become_one_table_sorted_by_offered_rate_with_a_lag_warning() {
        let case = |rate: f64, lag_p99: f64| {
            vec![
                row("offered_rate", rate, rate, rate, ""),
                row("requests_per_s", rate * 0.9, nan(), nan(), ""),
                row("send_lag_ms", 1.0, 0.0, lag_p99, ""),
            ]
        };
        let ds = dataset(vec![
            ("pp512_tg128_r8", case(8.0, 25.0)),
            ("pp512_tg128_r2", case(2.0, 3.0)),
            ("pp512_tg128_c1", vec![row("ttft_ms", 5.0, 4.0, 6.0, "")]),
        ]);
        let l = build(&ds);
        assert_eq!(l.tables.len(), 1);
        let t = &l.tables[0];
        let cases: Vec<&str> = t.rows.iter().map(|r| r.case.as_str()).collect();
        assert_eq!(cases, ["pp512_tg128_r2", "pp512_tg128_r8"]);
        assert_eq!(t.rows[1].achieved, "7.20");
        assert_eq!(t.rows[0].slo_share, "-");
        assert!(t.slo.is_empty());
        assert!(
            t.lag_warning.contains("pp512_tg128_r8"),
            "{}",
            t.lag_warning
        );
        assert!(!t.lag_warning.contains("r2"), "{}", t.lag_warning);
        assert!(l.headlines.is_empty());
    }

    fn nan() -> f64 {
        f64::NAN
    }

    #[test]
    fn bounds_read_as_written() {
        assert_eq!(plain(2000.0), "2000");
        assert_eq!(plain(0.95 * 100.0), "95");
        assert_eq!(plain(0.5), "0.5");
        let slo = BTreeMap::from([
            ("tpot_ms".to_string(), 100.0),
            ("ttft_ms".to_string(), 2000.0),
        ]);
        assert_eq!(slo_words(&slo), "TTFT ≤ 2000 ms, TPOT ≤ 100 ms");
    }
}
