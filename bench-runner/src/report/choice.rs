//! What `--metric` chooses: per-request metrics ([`super::metric`]) or shares of scored
//! items ([`super::item_metric`]), parsed from the command line once for `report` and
//! `compare`.

use super::item_metric::ItemMetric;
use super::metric::{DEFAULT_METRICS, METRICS, Metric, by_name};

/// A metric chosen with `--metric`: over requests (samples.csv) or over scored items
/// (items.csv, see [`super::item_metric`]).
#[derive(Debug, Clone)]
pub enum Chosen {
    Request(&'static Metric),
    Items(ItemMetric),
}

impl Chosen {
    pub fn name(&self) -> &str {
        match self {
            Chosen::Request(m) => m.name,
            Chosen::Items(m) => &m.name,
        }
    }
}

/// Parses `--metric` values (repeatable, or comma-separated); empty means the defaults.
pub fn parse_list(names: &[String]) -> crate::Result<Vec<Chosen>> {
    let names: Vec<&str> = names
        .iter()
        .flat_map(|n| n.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    let names = if names.is_empty() {
        DEFAULT_METRICS.to_vec()
    } else {
        names
    };
    let mut out: Vec<Chosen> = Vec::new();
    for n in names {
        let m = match (by_name(n), ItemMetric::parse(n)) {
            (Some(m), _) => Chosen::Request(m),
            (None, Some(i)) => Chosen::Items(i),
            (None, None) => {
                return Err(crate::Error::Usage(format!(
                    "unknown metric `{n}`; known: {}, accuracy, accuracy:<category>, compliance, compliance:<category>",
                    METRICS
                        .iter()
                        .map(|m| m.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        };
        if !out.iter().any(|o| o.name() == m.name()) {
            out.push(m);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_to_request_or_item_metrics() {
        assert!(parse_list(&["decode_tok_s,ttft_ms".into()]).unwrap().len() == 2);
        assert!(parse_list(&["nope".into()]).is_err());
        assert_eq!(parse_list(&[]).unwrap().len(), DEFAULT_METRICS.len());
        let chosen = parse_list(&["accuracy,accuracy:simple,ttft_ms".into()]).unwrap();
        assert!(matches!(&chosen[1], Chosen::Items(m) if m.category.as_deref() == Some("simple")));
        assert!(matches!(chosen[2], Chosen::Request(_)));
    }
}
