//! report.md: the same content as the HTML page, with figures as SVG files beside it.

use std::fmt::Write;

use super::Exporter;
use super::escape::md;
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
            "Generated {} by edgebench {} from {} runs, {} series and {} requests. Ratios are to **{}**.\n",
            r.generated_at,
            r.edgebench_version,
            r.runs.len(),
            r.series.len(),
            r.requests,
            md(&r.reference)
        );
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
            pivot(&mut o, p);
        }
        media(&mut o, &r.media);
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
            let _ = writeln!(
                o,
                "| {}{} | {} | {} | {} | {} | {} | {} | {} | {} |",
                md(&s.label),
                if s.is_reference { " (reference)" } else { "" },
                md(&s.device),
                md(&s.backend),
                md(&s.model),
                md(&s.run_id),
                md(&s.quant),
                md(&s.model_sha256),
                md(&s.chat_template),
                md(&s.sampling)
            );
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
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                md(&run.run_id),
                md(&run.device),
                md(&run.host),
                md(&run.started_at),
                md(&run.status),
                md(&run.scenarios),
                md(&run.backends),
                md(&run.requests)
            );
        }
        if !r.throttle.is_empty() {
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
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    md(&t.series),
                    md(&t.case),
                    t.requests,
                    t.span_s,
                    t.slice_s,
                    t.first,
                    t.last,
                    t.throttle_ratio
                );
            }
        }
        if !r.roofline.is_empty() {
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
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    md(&x.series),
                    md(&x.case),
                    x.model_mib,
                    x.bandwidth_gbs,
                    x.bound_tok_s,
                    x.decode_tok_s,
                    x.percent,
                    x.n
                );
            }
        }
        let _ = writeln!(o, "\n## Figures\n");
        for f in &r.figures {
            let _ = writeln!(
                o,
                "### {}\n\n![{}]({}.svg)\n\n{}\n",
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

fn pivot(o: &mut String, p: &PivotView) {
    let _ = writeln!(o, "## {} ({}, {})\n", md(&p.title), md(&p.unit), p.better);
    let _ = writeln!(
        o,
        "Median [95% CI]; below it the ratio to the reference median [95% bootstrap CI]; n = successful requests.\n"
    );
    let mut titles = vec!["case".to_string()];
    titles.extend(p.columns.iter().enumerate().map(|(i, c)| {
        let reference = if i == p.reference { " (reference)" } else { "" };
        format!("{}{reference}", md(c))
    }));
    let aligns = format!("l{}", "r".repeat(p.columns.len()));
    o.push_str(&mdtable::header(&titles, &aligns));
    for row in &p.rows {
        let _ = write!(o, "| {} |", md(&row.case));
        for c in &row.cells {
            match c {
                None => o.push_str(" - |"),
                Some(c) => {
                    let ratio = if c.ratio.is_empty() {
                        String::new()
                    } else {
                        format!("<br>{}", md(&c.ratio))
                    };
                    let warn = if c.warning.is_empty() {
                        String::new()
                    } else {
                        " ⚠".to_string()
                    };
                    let _ = write!(o, " {} (n={}){ratio}{warn} |", md(&c.value), c.n);
                }
            }
        }
        o.push('\n');
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
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            md(&c.series),
            md(&c.modality),
            md(&c.case),
            c.ttft_media,
            c.ttft_text,
            c.media_cost,
            c.n,
            c.unsupported
        );
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
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                md(&a.series),
                md(&a.modality),
                md(&a.task),
                a.correct,
                a.n,
                a.accuracy
            );
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
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} |",
                md(&g.file),
                md(&g.series),
                md(&g.case),
                md(&g.prompt),
                md(&g.expected),
                md(&g.answer),
                g.correct
            );
        }
    }
    o.push('\n');
}
