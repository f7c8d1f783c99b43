//! `arena rate`: battles → per-pair counts → Bradley-Terry fit → bootstrap and sandwich
//! intervals → ranks, with the side statistics, into one [`Leaderboard`] that the writers
//! (csv, md, html) render, and the disclosure that says how it was made.

use std::path::PathBuf;

use serde::Serialize;

use super::battles::{self, Battles, ReadOptions, Winner};
use super::bootstrap::{self, BootstrapOptions, DEFAULT_ROUNDS, DEFAULT_SEED};
use super::bradley_terry::{self as bt, ELO_PER_THETA, FitOptions, PairCounts};
pub use super::row::Row;
use super::serve::anomaly::{self, Anomalies};
use super::speed::{self, SpeedRow};
use super::{elo, style};
use crate::error::{Error, Result};

/// z for a two-sided 95% normal interval.
const Z95: f64 = 1.959_963_984_540_054;
pub const DEFAULT_MIN_VOTES: u64 = 50;
/// The disclosure names at most this many judges (those with most battles); FastChat's data
/// has one judge per voter, tens of thousands, all of them in `judges.csv`.
pub const TOP_JUDGES: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum IntervalMethod {
    Bootstrap,
    Sandwich,
}

#[derive(Debug, Clone)]
pub struct RateOptions {
    pub inputs: Vec<PathBuf>,
    pub rounds: usize,
    pub seed: u64,
    /// `(model, rating)`: that model is pinned at that rating; else the mean is 1000.
    pub anchor: Option<(String, f64)>,
    pub min_votes: u64,
    pub intervals: IntervalMethod,
    pub style: bool,
    pub inverse_frequency: bool,
    pub judges: Vec<String>,
    pub models: Vec<String>,
    pub speed: Vec<PathBuf>,
    pub min_tok_s: Option<f64>,
    pub threads: usize,
    /// Rate without the battles of voters the anomaly report flags (needs the votes files).
    pub exclude_flagged: bool,
}

impl Default for RateOptions {
    fn default() -> Self {
        RateOptions {
            inputs: Vec::new(),
            rounds: DEFAULT_ROUNDS,
            seed: DEFAULT_SEED,
            anchor: None,
            min_votes: DEFAULT_MIN_VOTES,
            intervals: IntervalMethod::Bootstrap,
            style: false,
            inverse_frequency: false,
            judges: Vec::new(),
            models: Vec::new(),
            speed: Vec::new(),
            min_tok_s: None,
            threads: std::thread::available_parallelism().map_or(1, usize::from),
            exclude_flagged: false,
        }
    }
}

/// Parses `MODEL=RATING` (the model name may itself contain `=`: the last one splits).
pub fn parse_anchor(s: &str) -> std::result::Result<(String, f64), String> {
    let (m, r) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("`{s}`: expected MODEL=RATING, e.g. gpt-4=1200"))?;
    let r: f64 = r
        .trim()
        .parse()
        .map_err(|_| format!("`{s}`: `{r}` is not a number"))?;
    if m.is_empty() || !r.is_finite() {
        return Err(format!("`{s}`: expected MODEL=RATING"));
    }
    Ok((m.to_string(), r))
}

#[derive(Debug, Clone, Serialize)]
pub struct PairLine {
    pub model_x: String,
    pub model_y: String,
    pub battles: u64,
    pub wins_x: u64,
    pub ties: u64,
    pub wins_y: u64,
}

/// A judge and how many of the rated battles it decided.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JudgeLine {
    pub judge: String,
    pub battles: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Disclosure {
    pub generated_at: String,
    pub inputs: Vec<String>,
    pub battles: u64,
    pub models: usize,
    /// How many distinct judges decided the battles.
    pub judges: usize,
    /// The [`TOP_JUDGES`] judges with most battles (all when there are no more), most first.
    pub top_judges: Vec<JudgeLine>,
    pub pairs: Vec<PairLine>,
    pub min_votes: u64,
    pub provisional: Vec<String>,
    pub interval_method: String,
    pub rounds: usize,
    pub seed: u64,
    pub unconverged_rounds: usize,
    pub anchor: String,
    pub filters: Vec<String>,
    pub dropped: Vec<String>,
    pub ties: String,
    pub objective: String,
    pub weighting: String,
    pub style_control: Option<Vec<(String, f64)>>,
    pub warnings: Vec<String>,
    /// The voters' anomaly report, where the vote page's votes files lie beside the battles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anomalies: Option<Anomalies>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Leaderboard {
    pub rows: Vec<Row>,
    pub disclosure: Disclosure,
    /// Every judge, most battles first (written to `judges.csv`, not into the disclosure).
    #[serde(skip)]
    pub judges: Vec<JudgeLine>,
    pub speed: Vec<SpeedRow>,
    /// Per device: the best model at ≥ `min_tok_s`, when asked.
    pub best_at_speed: Vec<(String, Option<String>)>,
    pub min_tok_s: Option<f64>,
}

/// Everything `arena rate` computes, from files.
pub fn rate(opts: &RateOptions) -> Result<Leaderboard> {
    if opts.inputs.is_empty() {
        return Err(Error::Usage("name at least one battles.csv".into()));
    }
    let read_opts = ReadOptions {
        judges: opts.judges.clone(),
        models: opts.models.clone(),
        want_style: opts.style,
    };
    let b = battles::read(&opts.inputs, &read_opts)?;
    let inputs: Vec<String> = opts
        .inputs
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let report = anomaly::analyse(&opts.inputs, opts.exclude_flagged)?;
    let mut lb = match &report {
        Some(r) if opts.exclude_flagged => {
            // Rated twice: without the flagged voters for the table, with them for beside it.
            let raw = rate_battles(&b, opts, inputs.clone())?;
            let mut lb = rate_battles(&r.without_flagged(&read_opts)?, opts, inputs)?;
            let a = r.excluded(
                raw.rows
                    .iter()
                    .map(|x| (x.model.clone(), x.rating))
                    .collect(),
            );
            lb.disclosure.filters.push(format!(
                "--exclude-flagged: {} battles of {} flagged voters left out",
                a.excluded_battles.unwrap_or(0),
                a.flagged.len()
            ));
            lb.disclosure.anomalies = Some(a);
            lb
        }
        None if opts.exclude_flagged => {
            return Err(Error::Usage(
                "--exclude-flagged needs the votes file the vote page writes beside its battles (battles.votes.csv)".into(),
            ));
        }
        _ => rate_battles(&b, opts, inputs)?,
    };
    if lb.disclosure.anomalies.is_none() {
        lb.disclosure.anomalies = report.map(|r| r.anomalies);
    }
    if !opts.speed.is_empty() {
        let (rows, warnings) = speed::join(&lb.rows, &opts.speed)?;
        lb.disclosure.warnings.extend(warnings);
        lb.best_at_speed = opts
            .min_tok_s
            .map(|m| speed::best_at(&rows, m))
            .unwrap_or_default();
        lb.speed = rows;
    }
    lb.min_tok_s = opts.min_tok_s;
    Ok(lb)
}

/// The statistics on battles already read.
// Stays whole: fit, intervals, then two literals (a row per model and the disclosure) whose
// fields are one line each; the parts with logic of their own are the helpers below.
pub fn rate_battles(b: &Battles, opts: &RateOptions, inputs: Vec<String>) -> Result<Leaderboard> {
    let k = b.models.len();
    if k < 2 {
        return Err(Error::TooFewModels {
            models: k,
            battles: b.battles.len(),
            dropped: b
                .dropped
                .iter()
                .map(|(why, n)| format!("{n} dropped: {why}"))
                .collect(),
        });
    }
    let anchor = match &opts.anchor {
        Some((m, r)) => Some((
            b.models
                .iter()
                .position(|x| x == m)
                .ok_or_else(|| Error::UnknownAnchor { model: m.clone() })?,
            *r,
        )),
        None => None,
    };
    let pc = PairCounts::from_battles(b);
    let w = bt::pair_weights(&pc, opts.inverse_frequency);
    let fit_opts = FitOptions::default();
    let f = bt::fit(&pc, &w, &fit_opts, None);
    let mut warnings = b.warnings.clone();
    if !f.converged {
        warnings.push(format!(
            "the Bradley-Terry fit did not converge in {} iterations",
            f.iterations
        ));
    }
    let rating = bt::to_elo(&f.theta, anchor);

    // Sandwich intervals (always computed: they are cheap).
    let cov = bt::sandwich(&pc, &w, fit_opts.ridge, &f.theta);
    let sandwich: Option<(Vec<f64>, Vec<f64>)> =
        cov.map(|c| interval_from_cov(&c, k, &rating, anchor.map(|a| a.0)));
    // Bootstrap intervals.
    let boot = (opts.rounds > 0).then(|| {
        bootstrap::intervals(
            &pc,
            &f.theta,
            &BootstrapOptions {
                rounds: opts.rounds,
                seed: opts.seed,
                inverse_frequency: opts.inverse_frequency,
                anchor,
                fit: fit_opts,
                threads: opts.threads,
            },
        )
    });
    let (low, high, method) = match (opts.intervals, &boot, &sandwich) {
        (IntervalMethod::Bootstrap, Some(bi), _) => {
            (bi.low.clone(), bi.high.clone(), IntervalMethod::Bootstrap)
        }
        (_, _, Some((l, h))) => (l.clone(), h.clone(), IntervalMethod::Sandwich),
        (_, Some(bi), None) => (bi.low.clone(), bi.high.clone(), IntervalMethod::Bootstrap),
        _ => {
            return Err(Error::NoIntervals);
        }
    };
    if opts.intervals == IntervalMethod::Bootstrap && method == IntervalMethod::Sandwich {
        warnings.push("--rounds 0: intervals and ranks from the sandwich estimator".into());
    }
    let ranks = bootstrap::ranks(&low, &high);

    let (wins, ties, losses) = tallies(b);
    let online = elo::online(b);

    let (style_cols, style_coef) = if opts.style {
        style_columns(b, anchor, &mut warnings)
    } else {
        (vec![(None, None); k], None)
    };

    let mut rows: Vec<Row> = (0..k)
        .map(|m| {
            let votes = wins[m] + ties[m] + losses[m];
            Row {
                rank_ub: ranks[m].0,
                rank_worst: ranks[m].1,
                model: b.models[m].clone(),
                rating: rating[m],
                ci_low: low[m],
                ci_high: high[m],
                bootstrap_low: boot.as_ref().map(|x| x.low[m]),
                bootstrap_high: boot.as_ref().map(|x| x.high[m]),
                sandwich_low: sandwich.as_ref().map(|x| x.0[m]),
                sandwich_high: sandwich.as_ref().map(|x| x.1[m]),
                votes,
                wins: wins[m],
                ties: ties[m],
                losses: losses[m],
                win_rate: if votes > 0 {
                    wins[m] as f64 / votes as f64
                } else {
                    0.0
                },
                provisional: votes < opts.min_votes,
                online_elo: online[m],
                style_rating: style_cols[m].0,
                style_rank_ub: style_cols[m].1.map(|r| r.0),
                style_rank_worst: style_cols[m].1.map(|r| r.1),
            }
        })
        .collect();
    rows.sort_by(|x, y| {
        y.rating
            .total_cmp(&x.rating)
            .then_with(|| x.model.cmp(&y.model))
    });

    let pairs = pc
        .pairs
        .iter()
        .map(|p| PairLine {
            model_x: b.models[p.i as usize].clone(),
            model_y: b.models[p.j as usize].clone(),
            battles: p.n() as u64,
            wins_x: p.wins_i as u64,
            ties: p.ties as u64,
            wins_y: p.wins_j as u64,
        })
        .collect();
    let filters = describe_filters(opts);
    let interval_method = interval_text(method, opts);
    let judges = judge_lines(b);
    let disclosure = Disclosure {
        generated_at: chrono::Utc::now()
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
        inputs,
        battles: b.battles.len() as u64,
        models: k,
        judges: judges.len(),
        top_judges: judges.iter().take(TOP_JUDGES).cloned().collect(),
        pairs,
        min_votes: opts.min_votes,
        provisional: rows
            .iter()
            .filter(|r| r.provisional)
            .map(|r| r.model.clone())
            .collect(),
        interval_method,
        rounds: if boot.is_some() { opts.rounds } else { 0 },
        seed: opts.seed,
        unconverged_rounds: boot.as_ref().map_or(0, |x| x.unconverged),
        anchor: match &opts.anchor {
            Some((m, r)) => format!("{m} = {r}"),
            None => "none: ratings have mean 1000".into(),
        },
        filters,
        dropped: b
            .dropped
            .iter()
            .map(|(why, n)| format!("{n} ({why})"))
            .collect(),
        ties: "`tie` and `tie (bothbad)` both count y = ½".into(),
        objective: format!(
            "Bradley-Terry maximum likelihood on pair counts, Newton's method, ridge λ = {} (FastChat's C = 1e6); rating = 1000 + 400/ln 10 × θ",
            fit_opts.ridge
        ),
        weighting: if opts.inverse_frequency {
            "inverse pair frequency".into()
        } else {
            "none (every battle counts once)".into()
        },
        style_control: style_coef,
        warnings,
        anomalies: None,
    };
    Ok(Leaderboard {
        rows,
        disclosure,
        judges,
        speed: Vec::new(),
        best_at_speed: Vec::new(),
        min_tok_s: None,
    })
}

/// Every judge with its battle count, most battles first.
fn judge_lines(b: &Battles) -> Vec<JudgeLine> {
    let mut judges: Vec<JudgeLine> = b
        .judges
        .iter()
        .map(|(j, n)| JudgeLine {
            judge: j.clone(),
            battles: *n,
        })
        .collect();
    judges.sort_by(|x, y| {
        y.battles
            .cmp(&x.battles)
            .then_with(|| x.judge.cmp(&y.judge))
    });
    judges
}

/// Wins, ties and losses per model.
fn tallies(b: &Battles) -> (Vec<u64>, Vec<u64>, Vec<u64>) {
    let k = b.models.len();
    let mut wins = vec![0u64; k];
    let mut ties = vec![0u64; k];
    let mut losses = vec![0u64; k];
    for x in &b.battles {
        let (a, bb) = (x.a as usize, x.b as usize);
        match x.winner {
            Winner::A => {
                wins[a] += 1;
                losses[bb] += 1;
            }
            Winner::B => {
                wins[bb] += 1;
                losses[a] += 1;
            }
            Winner::Tie | Winner::BothBad => {
                ties[a] += 1;
                ties[bb] += 1;
            }
        }
    }
    (wins, ties, losses)
}

/// Per model: (style-controlled rating, its (rank UB, worst rank)).
type StyleCol = (Option<f64>, Option<(usize, usize)>);

/// The style-controlled columns per model and the style coefficients, when a fit is possible.
fn style_columns(
    b: &Battles,
    anchor: Option<(usize, f64)>,
    warnings: &mut Vec<String>,
) -> (Vec<StyleCol>, Option<Vec<(String, f64)>>) {
    let k = b.models.len();
    let mut style_coef = None;
    let mut style_cols: Vec<StyleCol> = vec![(None, None); k];
    match style::fit(b) {
        Some(sf) => {
            let r = bt::to_elo(&sf.theta, anchor);
            if let Some(c) = &sf.cov {
                let (l, h) = interval_from_cov(c, k, &r, anchor.map(|a| a.0));
                let rk = bootstrap::ranks(&l, &h);
                for m in 0..k {
                    style_cols[m] = (Some(r[m]), Some(rk[m]));
                }
            } else {
                for m in 0..k {
                    style_cols[m] = (Some(r[m]), None);
                }
            }
            if !sf.converged {
                warnings.push("the style-controlled fit did not converge".into());
            }
            style_coef = Some(
                style::FEATURES
                    .iter()
                    .zip(sf.beta)
                    .map(|(n, v)| (n.to_string(), v))
                    .collect(),
            );
        }
        None => {
            warnings.push("style control: no battle carries all style features; skipped".into())
        }
    }
    (style_cols, style_coef)
}

/// What the disclosure says of the filters applied.
fn describe_filters(opts: &RateOptions) -> Vec<String> {
    let mut filters = Vec::new();
    if !opts.judges.is_empty() {
        filters.push(format!("judge ∈ {{{}}}", opts.judges.join(", ")));
    }
    if !opts.models.is_empty() {
        filters.push(format!("both models ∈ {{{}}}", opts.models.join(", ")));
    }
    if opts.style {
        filters.push("battles without style features dropped (style control)".into());
    }
    if filters.is_empty() {
        filters.push("none".into());
    }
    filters
}

/// What the disclosure says of the intervals shown.
fn interval_text(method: IntervalMethod, opts: &RateOptions) -> String {
    match method {
        IntervalMethod::Bootstrap => format!(
            "bootstrap: {} rounds, seed {}, multinomial resampling of the battle counts, percentile 95% intervals; sandwich (H⁻¹GH⁻¹) intervals in the CSV beside them",
            opts.rounds, opts.seed
        ),
        IntervalMethod::Sandwich => "sandwich estimator H⁻¹GH⁻¹, ±1.96 standard errors; bootstrap intervals in the CSV beside them where computed".into(),
    }
}

/// ±1.96 SE intervals from a θ covariance; with an anchor, the SE of θᵢ − θ_anchor.
fn interval_from_cov(
    c: &[f64],
    k: usize,
    rating: &[f64],
    anchor: Option<usize>,
) -> (Vec<f64>, Vec<f64>) {
    let mut lo = vec![0.0; k];
    let mut hi = vec![0.0; k];
    for i in 0..k {
        let var = match anchor {
            Some(a) => c[i * k + i] + c[a * k + a] - 2.0 * c[i * k + a],
            None => c[i * k + i],
        };
        let se = var.max(0.0).sqrt() * ELO_PER_THETA;
        lo[i] = rating[i] - Z95 * se;
        hi[i] = rating[i] + Z95 * se;
    }
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_parse() {
        assert_eq!(
            parse_anchor("a=b=1200").unwrap(),
            ("a=b".to_string(), 1200.0)
        );
        assert!(parse_anchor("gpt").is_err());
        assert!(parse_anchor("gpt=x").is_err());
    }

    use crate::arena::battles::BattleRow;

    fn battle(a: &str, b: &str) -> BattleRow {
        BattleRow {
            model_a: a.into(),
            model_b: b.into(),
            winner: "model_a".into(),
            judge: "human".into(),
            ..Default::default()
        }
    }

    #[test]
    fn fewer_than_two_models_is_named_and_says_what_was_dropped() {
        let b = Battles::from_rows(&[battle("a", "a"), battle("a", "a")], false).unwrap();
        let e = rate_battles(&b, &RateOptions::default(), vec![]).unwrap_err();
        assert!(matches!(
            e,
            Error::TooFewModels {
                models: 0,
                battles: 0,
                ..
            }
        ));
        assert_eq!(
            e.to_string(),
            "need battles among at least 2 models; found 0 model(s) in 0 battle(s) (2 dropped: a model against itself)"
        );
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn an_anchor_on_no_model_is_named() {
        let b = Battles::from_rows(&[battle("a", "b"), battle("b", "a")], false).unwrap();
        let opts = RateOptions {
            anchor: Some(("z".into(), 1000.0)),
            ..Default::default()
        };
        let e = rate_battles(&b, &opts, vec![]).unwrap_err();
        assert!(matches!(&e, Error::UnknownAnchor { model } if model == "z"));
        assert_eq!(e.to_string(), "--anchor: no model `z` among the battles");
        assert_eq!(e.exit_code(), 2);
    }
}
