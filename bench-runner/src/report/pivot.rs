//! The device-to-device table: for each chosen metric, one row per case and one column per
//! series (device/backend), each cell the median with its 95% CI and, for every column but
//! the reference, the ratio to the reference column's median with its bootstrap 95% CI
//! (see [`crate::measure::ratio`]).
//!
//! A ratio between results whose comparability key differs is still computed, but the cell
//! carries a ⚠ mark and the warnings say what differs: never a silent ratio.

use super::key::CompKey;
use super::load::{CaseId, Dataset};
use super::metric::Metric;
use crate::error::{Error, Result};
use crate::measure::ratio::{MedianCi, RatioCi, median_ci, median_ratio_ci};

#[derive(Debug, Clone, serde::Serialize)]
pub struct PivotCell {
    pub value: MedianCi,
    /// Ratio to the reference column; `None` in the reference column itself or where the
    /// reference did not measure the case.
    pub ratio: Option<RatioCi>,
    /// Comparability-key differences to the reference (shown as ⚠ with the text).
    pub not_comparable: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PivotRow {
    pub scenario: String,
    pub case_id: String,
    /// One per column, `None` where that series did not run the case.
    pub cells: Vec<Option<PivotCell>>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Pivot {
    pub metric: &'static str,
    pub title: &'static str,
    pub unit: &'static str,
    pub higher_is_better: bool,
    /// Series labels, in column order; `reference` indexes into them.
    pub columns: Vec<String>,
    pub reference: usize,
    pub rows: Vec<PivotRow>,
}

/// Finds the reference series for `--reference LABEL`: an exact series label, else a device
/// label, backend name or run id that names exactly one series. No label: the first series.
pub fn find_reference(ds: &Dataset, label: Option<&str>) -> Result<usize> {
    let Some(label) = label else { return Ok(0) };
    if let Some(i) = ds.series.iter().position(|s| s.label == label) {
        return Ok(i);
    }
    let hits: Vec<usize> = ds
        .series
        .iter()
        .enumerate()
        .filter(|(_, s)| s.id.device == label || s.id.backend == label || s.id.run_id == label)
        .map(|(i, _)| i)
        .collect();
    let all = ds
        .series
        .iter()
        .map(|s| s.label.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    match hits.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::Usage(format!(
            "--reference `{label}` names no series; the series are: {all}"
        ))),
        _ => Err(Error::Usage(format!(
            "--reference `{label}` names {} series; give one of: {all}",
            hits.len()
        ))),
    }
}

/// Builds the table of one metric. Values come from the per-request samples; where a run has
/// only summary.csv, from its p50 and CI columns (and then there is no ratio CI).
pub fn build(ds: &Dataset, metric: &'static Metric, reference: usize) -> Pivot {
    let cases: Vec<CaseId> = ds.cases();
    let mut rows = Vec::new();
    for case in &cases {
        let ref_cell = ds.cell(reference, case);
        let ref_values = ref_cell.map(|c| c.values(metric.slot)).unwrap_or_default();
        let ref_key = ref_cell.map(|c| key_of(ds, c.series, case));
        let mut cells = Vec::new();
        for (si, _) in ds.series.iter().enumerate() {
            let Some(cell) = ds.cell(si, case) else {
                cells.push(None);
                continue;
            };
            let values = cell.values(metric.slot);
            let value = median_ci(&values).or_else(|| {
                cell.summary_row(metric.name).map(|r| MedianCi {
                    n: r.n,
                    median: r.p50,
                    low: r.ci_low,
                    high: r.ci_high,
                })
            });
            let Some(value) = value else {
                cells.push(None);
                continue;
            };
            let (ratio, not_comparable) = if si == reference || ref_cell.is_none() {
                (None, Vec::new())
            } else {
                let ratio = if !ref_values.is_empty() && !values.is_empty() {
                    median_ratio_ci(&ref_values, &values)
                } else {
                    // Summary only: the point ratio without an interval.
                    ref_cell
                        .and_then(|c| c.summary_row(metric.name))
                        .filter(|r| r.p50 != 0.0)
                        .map(|r| RatioCi {
                            ratio: value.median / r.p50,
                            low: f64::NAN,
                            high: f64::NAN,
                        })
                };
                let diffs = ref_key
                    .as_ref()
                    .map(|k| k.differences(&key_of(ds, si, case)))
                    .unwrap_or_default();
                (ratio, diffs)
            };
            cells.push(Some(PivotCell {
                value,
                ratio,
                not_comparable,
            }));
        }
        if cells.iter().any(Option::is_some) {
            rows.push(PivotRow {
                scenario: case.scenario.clone(),
                case_id: case.case_id.clone(),
                cells,
            });
        }
    }
    without_empty_columns(Pivot {
        metric: metric.name,
        title: metric.title,
        unit: metric.unit,
        higher_is_better: metric.direction == super::metric::Direction::HigherIsBetter,
        columns: ds.series.iter().map(|s| s.label.clone()).collect(),
        reference,
        rows,
    })
}

/// Drops the columns of series with no value in any row (a drift run reported beside speed
/// runs has no decode tok/s): a column of dashes says nothing. The reference column stays.
fn without_empty_columns(p: Pivot) -> Pivot {
    let keep: Vec<usize> = (0..p.columns.len())
        .filter(|&i| i == p.reference || p.rows.iter().any(|r| r.cells[i].is_some()))
        .collect();
    if keep.len() == p.columns.len() {
        return p;
    }
    let reference = keep.iter().position(|&i| i == p.reference).unwrap_or(0);
    Pivot {
        columns: keep.iter().map(|&i| p.columns[i].clone()).collect(),
        reference,
        rows: p
            .rows
            .into_iter()
            .map(|r| PivotRow {
                cells: keep.iter().map(|&i| r.cells[i].clone()).collect(),
                ..r
            })
            .collect(),
        ..p
    }
}

pub fn key_of(ds: &Dataset, series: usize, case: &CaseId) -> CompKey {
    let s = &ds.series[series];
    CompKey::of(
        ds.manifest_of(series),
        &s.id.backend,
        &s.id.model,
        &case.scenario,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(median: f64) -> Option<PivotCell> {
        Some(PivotCell {
            value: MedianCi {
                n: 3,
                median,
                low: median,
                high: median,
            },
            ratio: None,
            not_comparable: Vec::new(),
        })
    }

    fn pivot(reference: usize, cells: Vec<Vec<Option<PivotCell>>>) -> Pivot {
        Pivot {
            metric: "decode_tok_s",
            title: "decode tok/s",
            unit: "tok/s",
            higher_is_better: true,
            columns: ["a", "drift-only", "b", "empty-ref"]
                .map(String::from)
                .to_vec(),
            reference,
            rows: cells
                .into_iter()
                .enumerate()
                .map(|(i, cells)| PivotRow {
                    scenario: "s".into(),
                    case_id: format!("c{i}"),
                    cells,
                })
                .collect(),
        }
    }

    #[test]
    fn a_series_with_no_value_gets_no_column_and_the_reference_follows() {
        let p = without_empty_columns(pivot(
            2,
            vec![
                vec![cell(1.0), None, cell(2.0), None],
                vec![None, None, cell(3.0), None],
            ],
        ));
        assert_eq!(p.columns, ["a", "b"]);
        assert_eq!(p.reference, 1, "the reference index moves with its column");
        assert_eq!(p.rows[0].cells.len(), 2);
        assert_eq!(
            p.rows[1].cells[1].as_ref().map(|c| c.value.median),
            Some(3.0)
        );
    }

    #[test]
    fn an_empty_reference_column_stays() {
        let p = without_empty_columns(pivot(3, vec![vec![cell(1.0), None, cell(2.0), None]]));
        assert_eq!(p.columns, ["a", "b", "empty-ref"]);
        assert_eq!(p.reference, 2);
    }
}
