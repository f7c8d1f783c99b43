//! report.md: the same content as the HTML page, with figures as SVG files beside it.

use std::fmt::Write;

use super::Exporter;
use super::escape::md;
use super::headline;
use crate::error::Result;
use crate::report::model::{PivotView, Report};
use crate::results::markdown as mdtable;

pub struct Markdown;

impl Exporter for Markdown {
    fn file_name(&self) -> &'static str {
        "report.md"
    }

    fn render(&self, r: &Report) -> Result<String> {
        let mut o = String::new();
        let _ = writeln!(o, "# {}\n", md(&r.title));
        let _ = writeln!(
            o,
            "Generated {} by edgebench {} from {} runs, {} series and {} requests.{}\n",
            r.generated_at,
            r.edgebench_version,
            r.runs.len(),
            r.series.len(),
            r.requests,
            if r.series.len() > 1 {
                format!(" Ratios are to **{}**.", md(&r.reference))
            } else {
                String::new()
            }
        );
        headline(&mut o, r);
        super::load_md::headlines(&mut o, &r.load);
        if !r.comparability.is_empty() {
            let _ = writeln!(
                o,
                "> **⚠ Not like for like.** These ratios compare results whose comparability key differs (model file, quantisation, chat template, sampling settings or scenario); they are marked ⚠ in the tables:\n>"
            );
            for c in &r.comparability {
                let _ = writeln!(o, "> - {}", md(c));
            }
            o.push('\n');
        }
        for p in &r.pivots {
            pivot(&mut o, p, r.series.len());
        }
        media(&mut o, &r.media);
        super::drift_md::markdown(&mut o, &r.drift);
        super::load_md::section(&mut o, &r.load);
        tools(&mut o, &r.tools);
        effective(&mut o, &r.effective);
        series_and_runs(&mut o, r);
        throttle(&mut o, r);
        roofline(&mut o, r);
        serving(&mut o, r);
        let _ = writeln!(o, "\n## Figures\n");
        for f in &r.figures {
            let read = crate::report::chart::how_to_read(&f.id);
            let read = if read.is_empty() {
                String::new()
            } else {
                format!("**How to read this:** {read}\n\n")
            };
            let _ = writeln!(
                o,
                "### {}\n\n{read}![{}]({}.svg)\n\n{}\n",
                md(&f.title),
                md(&f.title),
                f.id,
                md(&f.caption)
            );
        }
        if !r.warnings.is_empty() {
            let _ = writeln!(o, "## Warnings\n");
            for w in &r.warnings {
                let _ = writeln!(o, "- {}", md(w));
            }
        }
        Ok(o)
    }
}

/// What ran, on what, the three numbers, and the warnings count, before any table.
fn headline(o: &mut String, r: &Report) {
    let h = headline::build(r);
    let _ = writeln!(o, "**Ran:** {}  ", md(&h.ran));
    let _ = writeln!(o, "**Backends:** {}\n", md(&h.backends));
    for n in &h.numbers {
        let _ = writeln!(
            o,
            "- **{}: {}** ({})",
            md(&n.label),
            md(&n.value),
            md(&n.context)
        );
    }
    if h.warnings == 0 {
        let _ = writeln!(o, "\nNo warnings.\n");
    } else {
        let _ = writeln!(o, "\n**⚠ {} warning(s)**: see below.\n", h.warnings);
    }
}

fn series_and_runs(o: &mut String, r: &Report) {
    let _ = writeln!(o, "## Series\n");
    o.push_str(&mdtable::header(
        &[
            "series",
            "device",
            "backend",
            "model",
            "run",
            "quant",
            "model sha256",
            "chat template sha256",
            "sampling",
        ],
        "lllllllll",
    ));
    for s in &r.series {
        let reference = if s.is_reference { " (reference)" } else { "" };
        o.push_str(&mdtable::row(&[
            format!("{}{reference}", md(&s.label)),
            md(&s.device),
            md(&s.backend),
            md(&s.model),
            md(&s.run_id),
            md(&s.quant),
            md(&s.model_sha256),
            md(&s.chat_template),
            md(&s.sampling),
        ]));
    }
    let _ = writeln!(o, "\n## Runs\n");
    o.push_str(&mdtable::header(
        &[
            "run",
            "device",
            "host",
            "started",
            "status",
            "scenarios",
            "backends",
            "requests",
        ],
        "llllllll",
    ));
    for run in &r.runs {
        o.push_str(&mdtable::row(&[
            md(&run.run_id),
            md(&run.device),
            md(&run.host),
            md(&run.started_at),
            md(&run.status),
            md(&run.scenarios),
            md(&run.backends),
            md(&run.requests),
        ]));
    }
}

fn throttle(o: &mut String, r: &Report) {
    if r.throttle.is_empty() {
        return;
    }
    let _ = writeln!(o, "\n## Speed over time\n");
    let _ = writeln!(
        o,
        "Decode tok/s per time slice; throttle ratio = median of the last slice ÷ the first (1.0: no slowdown).\n"
    );
    o.push_str(&mdtable::header(
        &[
            "series",
            "case",
            "requests",
            "span s",
            "slice s",
            "first slice tok/s",
            "last slice tok/s",
            "throttle ratio",
        ],
        "llrrrrrr",
    ));
    for t in &r.throttle {
        o.push_str(&mdtable::row(&[
            md(&t.series),
            md(&t.case),
            t.requests.to_string(),
            t.span_s.clone(),
            t.slice_s.clone(),
            t.first.clone(),
            t.last.clone(),
            t.throttle_ratio.clone(),
        ]));
    }
}

fn serving(o: &mut String, r: &Report) {
    if r.serving.is_empty() {
        return;
    }
    let _ = writeln!(o, "\n## Serving overhead\n");
    let _ = writeln!(
        o,
        "The same model on the same device, served over HTTP ÷ llama.cpp in process, at each concurrency: medians of decode tok/s and TTFT with 95% bootstrap CIs, and aggregate output tok/s. Below 1 (decode, output) or above 1 (TTFT): what serving costs.\n"
    );
    o.push_str(&mdtable::header(
        &[
            "served ÷ in process",
            "case",
            "concurrency",
            "decode tok/s in process",
            "decode tok/s served",
            "decode ratio",
            "TTFT ratio",
            "output tok/s ratio",
            "n",
            "note",
        ],
        "llrrrrrrrl",
    ));
    for x in &r.serving {
        o.push_str(&mdtable::row(&[
            md(&x.pair),
            md(&x.case),
            x.concurrency.to_string(),
            x.in_process.clone(),
            x.served.clone(),
            x.decode_ratio.clone(),
            x.ttft_ratio.clone(),
            x.output_ratio.clone(),
            x.n.clone(),
            md(&x.note),
        ]));
    }
}

fn roofline(o: &mut String, r: &Report) {
    if r.roofline.is_empty() {
        return;
    }
    let _ = writeln!(o, "\n## Decode against the memory-bandwidth bound\n");
    let _ = writeln!(
        o,
        "Bound = memory bandwidth (one-thread STREAM-like copy, `--probe`) ÷ model file size: a dense model reads every weight once per token. One stream.\n"
    );
    o.push_str(&mdtable::header(
        &[
            "series",
            "case",
            "model MiB",
            "bandwidth GB/s",
            "bound tok/s",
            "decode tok/s (median)",
            "of bound",
            "n",
        ],
        "llrrrrrr",
    ));
    for x in &r.roofline {
        o.push_str(&mdtable::row(&[
            md(&x.series),
            md(&x.case),
            x.model_mib.clone(),
            x.bandwidth_gbs.clone(),
            x.bound_tok_s.clone(),
            x.decode_tok_s.clone(),
            x.percent.clone(),
            x.n.to_string(),
        ]));
    }
}

/// Tool-call and structured-output cases: accuracy with Wilson intervals and correct goodput,
/// then the failure categories.
fn tools(o: &mut String, t: &crate::report::tools::ToolSection) {
    if t.accuracy.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Tool calls and structured output\n");
    let _ = writeln!(
        o,
        "From items.csv. Share of items correct (compliance for structured output) [95% Wilson interval], overall (`all`) and per category; correct goodput = items both correct and within `latency_target_ms`, per second of the items' summed E2E.\n"
    );
    o.push_str(&mdtable::header(
        &[
            "series",
            "scenario",
            "case",
            "measure",
            "category",
            "correct",
            "items",
            "share [95% Wilson]",
            "correct goodput items/s",
        ],
        "lllllrrrr",
    ));
    for a in &t.accuracy {
        o.push_str(&mdtable::row(&[
            md(&a.series),
            md(&a.scenario),
            md(&a.case),
            a.measure.clone(),
            md(&a.category),
            a.correct.to_string(),
            a.n.to_string(),
            a.share.clone(),
            a.goodput.clone(),
        ]));
    }
    if !t.failures.is_empty() {
        let _ = writeln!(o, "\n### Failure categories\n");
        o.push_str(&mdtable::header(
            &[
                "series",
                "scenario",
                "case",
                "failure",
                "items",
                "of items",
                "share [95% Wilson]",
            ],
            "llllrrr",
        ));
        for f in &t.failures {
            o.push_str(&mdtable::row(&[
                md(&f.series),
                md(&f.scenario),
                md(&f.case),
                md(&f.failure),
                f.count.to_string(),
                f.n.to_string(),
                f.share.clone(),
            ]));
        }
    }
    o.push('\n');
}

/// Context scenarios: the effective context length per series, recall per length beside it.
fn effective(o: &mut String, e: &crate::report::effective::EffectiveSection) {
    if e.rows.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Effective context length\n");
    let _ = writeln!(
        o,
        "The longest tested context length (prompt + answer tokens) whose mean needle recall reaches the threshold; beside it the mean recall per length [95% bootstrap CI] (n requests).\n"
    );
    let mut titles: Vec<String> = [
        "device",
        "backend",
        "model",
        "scenario",
        "effective length (tokens)",
        "threshold",
    ]
    .map(String::from)
    .to_vec();
    titles.extend(e.lengths.iter().map(|l| format!("recall @ {l}")));
    let aligns = format!("llllrr{}", "r".repeat(e.lengths.len()));
    o.push_str(&mdtable::header(&titles, &aligns));
    for r in &e.rows {
        let mut cells = vec![
            md(&r.device),
            md(&r.backend),
            md(&r.model),
            md(&r.scenario),
            r.effective.clone(),
            r.threshold.clone(),
        ];
        cells.extend(r.recall.iter().cloned());
        o.push_str(&mdtable::row(&cells));
    }
    o.push('\n');
}

fn pivot(o: &mut String, p: &PivotView, series: usize) {
    let _ = writeln!(o, "## {} ({}, {})\n", md(&p.title), md(&p.unit), p.better);
    let _ = writeln!(o, "{}\n", headline::note(&p.note, series));
    let mut titles = vec!["case".to_string()];
    titles.extend(p.columns.iter().enumerate().map(|(i, c)| {
        let reference = if i == p.reference { " (reference)" } else { "" };
        format!("{}{reference}", md(c))
    }));
    let aligns = format!("l{}", "r".repeat(p.columns.len()));
    o.push_str(&mdtable::header(&titles, &aligns));
    for row in &p.rows {
        let mut cells = vec![md(&row.case)];
        cells.extend(row.cells.iter().map(|c| match c {
            None => "-".to_string(),
            Some(c) => {
                let ratio = if c.ratio.is_empty() {
                    String::new()
                } else {
                    format!("<br>{}", md(&c.ratio))
                };
                let warn = if c.warning.is_empty() { "" } else { " ⚠" };
                format!("{} (n={}){ratio}{warn}", md(&c.value), c.n)
            }
        }));
        o.push_str(&mdtable::row(&cells));
    }
    o.push('\n');
}

/// The multimodal section: media cost, accuracy, and inputs beside the answers (model text
/// escaped like every other cell).
fn media(o: &mut String, m: &crate::report::multimodal::MediaSection) {
    if m.cost.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "## Multimodal: media cost and accuracy
"
    );
    let _ = writeln!(
        o,
        "Media cost = TTFT with the media − TTFT of the same text without them, paired per item; medians with 95% bootstrap CIs.\n"
    );
    o.push_str(&mdtable::header(
        &[
            "series",
            "modality",
            "case",
            "TTFT with media ms",
            "TTFT text only ms",
            "media cost ms",
            "n",
            "unsupported",
        ],
        "lllrrrrr",
    ));
    for c in &m.cost {
        o.push_str(&mdtable::row(&[
            md(&c.series),
            md(&c.modality),
            md(&c.case),
            c.ttft_media.clone(),
            c.ttft_text.clone(),
            c.media_cost.clone(),
            c.n.to_string(),
            c.unsupported.to_string(),
        ]));
    }
    if !m.accuracy.is_empty() {
        o.push('\n');
        o.push_str(&mdtable::header(
            &[
                "series",
                "modality",
                "task",
                "correct",
                "n",
                "accuracy [95% Wilson]",
            ],
            "lllrrr",
        ));
        for a in &m.accuracy {
            o.push_str(&mdtable::row(&[
                md(&a.series),
                md(&a.modality),
                md(&a.task),
                a.correct.to_string(),
                a.n.to_string(),
                a.accuracy.clone(),
            ]));
        }
    }
    if !m.gallery.is_empty() {
        let _ = writeln!(o, "\n### Inputs and answers\n");
        o.push_str(&mdtable::header(
            &[
                "input", "series", "case", "question", "expected", "answer", "correct",
            ],
            "lllllll",
        ));
        for g in &m.gallery {
            o.push_str(&mdtable::row(&[
                md(&g.file),
                md(&g.series),
                md(&g.case),
                md(&g.prompt),
                md(&g.expected),
                md(&g.answer),
                g.correct.clone(),
            ]));
        }
    }
    o.push('\n');
}
