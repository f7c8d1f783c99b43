//! `devices/<slug>.html`: every model's speed on one device, the quality × speed chart with
//! its Pareto front, and decode against the memory-bandwidth bound where a run probed it.

use minijinja::{Environment, Value, context};

use super::accuracy_speed;
use super::downloads;
use super::pareto;
use super::render::{self, rating, rating_ci, with_ci};
use super::roofline;
use super::site::{DeviceEntry, Site};
use super::slug;
use crate::error::Result;
use crate::report::format::fmt_num;
use crate::report::tools::fmt_share;

const ROOT: &str = "../";

fn model_link(site: &Site, series: usize) -> (Option<String>, String) {
    match site.model_of(series) {
        Some(m) => (
            Some(format!("{ROOT}{}", slug::model_page(&m.slug))),
            m.name.clone(),
        ),
        None => (None, site.data.series[series].id.model.clone()),
    }
}

/// What the runs recorded of the hosts behind this device: one line per distinct host, and
/// one per bandwidth probe.
fn hosts(site: &Site, d: &DeviceEntry) -> Vec<String> {
    let mut hosts: Vec<String> = Vec::new();
    let mut probes: Vec<String> = Vec::new();
    for m in d.series.iter().filter_map(|&s| site.data.manifest_of(s)) {
        let h = &m.host;
        hosts.push(format!(
            "measured from a host with {}, {} logical CPUs, {:.1} GiB memory, {}",
            h.cpu_model,
            h.logical_cpus,
            h.memory_bytes as f64 / (1u64 << 30) as f64,
            h.os
        ));
        if let Some(b) = h.memory_bandwidth_gbs {
            probes.push(format!(
                "memory bandwidth {} GB/s, probed by run {}",
                fmt_num(b),
                m.run_id
            ));
        }
    }
    hosts.sort();
    hosts.dedup();
    probes.sort();
    probes.dedup();
    hosts.extend(probes);
    hosts
}

pub fn render(env: &Environment<'_>, site: &Site, d: &DeviceEntry) -> Result<String> {
    let ev = &site.evidence;
    let speed: Vec<Value> = ev
        .speed
        .iter()
        .filter(|r| d.series.contains(&r.series))
        .map(|r| {
            let (href, name) = model_link(site, r.series);
            context! {
                model_href => href,
                model_name => name,
                backend => r.backend.clone(),
                run_id => r.run_id.clone(),
                case => format!("{} / {}", r.scenario, r.case_id),
                decode => with_ci(r.decode_tok_s, r.decode_ci_low, r.decode_ci_high),
                prefill => with_ci(r.prefill_tok_s, r.prefill_ci_low, r.prefill_ci_high),
                ttft => with_ci(r.ttft_ms, r.ttft_ci_low, r.ttft_ci_high),
                n => r.n,
            }
        })
        .collect();
    let quality: Vec<Value> = site
        .leaderboard
        .speed
        .iter()
        .filter(|r| r.device == d.name)
        .map(|r| {
            context! {
                model => r.model.clone(),
                model_href => site.model_named(&r.model).map(|m| format!("{ROOT}{}", slug::model_page(&m.slug))),
                rating => rating(r.rating),
                ci => rating_ci(r.ci_low, r.ci_high),
                decode => r.decode_tok_s.map(fmt_num),
                ttft => r.ttft_ms.map(fmt_num),
                cases => r.cases,
                pareto => r.pareto,
            }
        })
        .collect();
    let roof: Vec<_> = ev
        .roofline
        .iter()
        .filter(|r| d.series.contains(&r.series))
        .collect();
    let roofline_rows: Vec<Value> = roof
        .iter()
        .map(|r| {
            let (href, name) = model_link(site, r.series);
            let x = &r.row;
            context! {
                model_href => href,
                model_name => name,
                series => x.series.clone(),
                case => x.case.clone(),
                model_mb => format!("{:.1}", x.model_bytes as f64 / 1e6),
                bandwidth => fmt_num(x.bandwidth_gbs),
                bound => fmt_num(x.bound_tok_s),
                decode => fmt_num(x.decode_tok_s),
                percent => format!("{:.1}%", x.percent_of_bound),
                n => x.n,
            }
        })
        .collect();
    let rows: Vec<_> = roof.iter().map(|r| &r.row).collect();
    let acc: Vec<_> = accuracy_speed::rows(site)
        .into_iter()
        .filter(|r| r.device == d.name)
        .collect();
    let accuracy: Vec<Value> = acc
        .iter()
        .map(|r| {
            context! {
                model => r.model.clone(),
                model_href => site.model_named(&r.model).map(|m| format!("{ROOT}{}", slug::model_page(&m.slug))),
                correct => r.correct,
                n => r.n,
                accuracy => fmt_share(r.accuracy, r.ci_low, r.ci_high),
                decode => r.decode_tok_s.map(fmt_num),
                pareto => r.pareto,
            }
        })
        .collect();
    let ctx = context! {
        name => d.name.clone(),
        hosts => hosts(site, d),
        speed => speed,
        quality => quality,
        pareto => pareto::chart(&d.name, &site.leaderboard.speed, "rating (95% CI)").and_then(|s| render::figure(&s)),
        accuracy_pareto => pareto::chart(&d.name, &accuracy_speed::chart_rows(&acc), "tool-call accuracy % (95% CI)").and_then(|s| render::figure(&s)),
        accuracy => accuracy,
        accuracy_data => render::downloads(ROOT, downloads::ACCURACY_SPEED),
        roofline => roofline::chart(&rows).and_then(|s| render::figure(&s)),
        roofline_rows => roofline_rows,
        speed_data => render::downloads(ROOT, downloads::SPEED),
        quality_data => render::downloads(ROOT, downloads::QUALITY_SPEED),
        roofline_data => render::downloads(ROOT, downloads::ROOFLINE),
        ..render::layout(&site.title, &d.name, ROOT, &site.leaderboard.disclosure.generated_at, &site.data_hash)
    };
    render::page(env, "device.html", ctx)
}
