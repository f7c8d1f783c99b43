//! Which rows a resume moves out of a run's files before it runs: the requests of items cut
//! short by the interruption, and with `--retry-failed` every failed request (with the rest
//! of its item, or of its `duration_s` case).

use std::collections::{HashMap, HashSet};

use super::{CaseKey, WholeCases, failed_at_server, key_of, sample_key};
use crate::results::SampleRow;
use crate::results::items::ItemRow;
use crate::results::media::MediaRow;

/// What a resume moves out of the files before it runs (indices into each file's rows).
#[derive(Default, Debug)]
pub(super) struct Moves {
    pub samples: HashSet<usize>,
    pub items: HashSet<usize>,
    pub media: HashSet<usize>,
    /// Cases whose summary rows must go (they will be summarised again).
    pub reopened: HashSet<CaseKey>,
    /// Throughput cases that lost rows: the kept ones are numbered 0.. again, so that the
    /// requests sent again take the numbers after them and no (case, repetition) repeats.
    pub renumber: HashSet<CaseKey>,
}

pub(super) fn plan_moves(
    samples: &[SampleRow],
    items: &[ItemRow],
    media: &[MediaRow],
    retry_failed: bool,
    whole_cases: &WholeCases,
) -> Moves {
    let mut mv = Moves::default();
    let mut by_case: HashMap<CaseKey, Vec<usize>> = HashMap::new();
    let mut order: Vec<CaseKey> = Vec::new();
    for (i, r) in samples.iter().enumerate() {
        let k = sample_key(r);
        by_case
            .entry(k.clone())
            .or_insert_with(|| {
                order.push(k);
                Vec::new()
            })
            .push(i);
    }
    // Tool-call and structured cases: item k owns the next `requests` rows of its case.
    let mut items_by_case: HashMap<CaseKey, Vec<usize>> = HashMap::new();
    for (i, it) in items.iter().enumerate() {
        items_by_case
            .entry(key_of(&it.backend, &it.scenario, &it.case_id))
            .or_default()
            .push(i);
    }
    let mut mm = MediaItems::new(media);
    for key in order {
        let idx = &by_case[&key];
        match samples[idx[0]].kind.as_str() {
            "tool_calls" | "structured" => {
                let its = items_by_case.get(&key).map_or(&[][..], Vec::as_slice);
                mv.tool_case(&key, idx, its, samples, items, retry_failed);
            }
            "multimodal" => mm.case(&key, idx, samples, &mut mv),
            kind if retry_failed => mv.speed_case(&key, kind, idx, samples, whole_cases),
            _ => {}
        }
    }
    if retry_failed {
        for m in mm.failed {
            mv.items_media(m, media, mm.rows_of.get(&m).map_or(&[][..], Vec::as_slice));
        }
    }
    mv
}

/// Multimodal items: (backend, scenario, case, item) → media.csv row index, and what the
/// samples of each say.
struct MediaItems {
    items: HashMap<(CaseKey, u32), usize>,
    cases: HashSet<CaseKey>,
    /// Items with a request that failed at the server.
    failed: HashSet<usize>,
    /// The samples.csv rows of each item (media request and twin).
    rows_of: HashMap<usize, Vec<usize>>,
}

impl MediaItems {
    fn new(media: &[MediaRow]) -> Self {
        let mut m = MediaItems {
            items: HashMap::new(),
            cases: HashSet::new(),
            failed: HashSet::new(),
            rows_of: HashMap::new(),
        };
        for (i, r) in media.iter().enumerate() {
            let k = key_of(&r.backend, &r.scenario, &r.case_id);
            m.cases.insert(k.clone());
            m.items.insert((k, r.item), i);
        }
        m
    }

    /// One case's samples: those of an item without its media.csv row (cut short) move out.
    fn case(&mut self, key: &CaseKey, idx: &[usize], samples: &[SampleRow], mv: &mut Moves) {
        // `<case>_text` rows are the text-only twins of case `<case>`.
        let media_case = match key.2.strip_suffix("_text") {
            Some(base) if !self.cases.contains(key) => key_of(&key.0, &key.1, base),
            _ => key.clone(),
        };
        for &i in idx {
            match self.items.get(&(media_case.clone(), samples[i].repetition)) {
                None => {
                    mv.samples.insert(i);
                    mv.reopened.insert(media_case.clone());
                }
                Some(&m) => {
                    self.rows_of.entry(m).or_default().push(i);
                    if failed_at_server(&samples[i]) {
                        self.failed.insert(m);
                    }
                }
            }
        }
    }
}

impl Moves {
    /// A tool-call or structured case: items cut short move out, and (`retry_failed`) items
    /// with a request that failed at the server, unless the server refused their schema.
    fn tool_case(
        &mut self,
        key: &CaseKey,
        idx: &[usize],
        its: &[usize],
        samples: &[SampleRow],
        items: &[ItemRow],
        retry_failed: bool,
    ) {
        let mut next = 0usize;
        for &it in its {
            let item = &items[it];
            let end = (next + item.requests as usize).min(idx.len());
            let reqs = &idx[next..end];
            next = end;
            let schema_refused = item.failure_category.as_deref() == Some("schema_unsupported");
            if retry_failed
                && !schema_refused
                && reqs.iter().any(|&i| failed_at_server(&samples[i]))
            {
                self.samples.extend(reqs);
                self.items.insert(it);
                self.reopened.insert(key.clone());
            }
        }
        // Requests of an item the interruption cut short: the item is sent again.
        if next < idx.len() {
            self.samples.extend(&idx[next..]);
            self.reopened.insert(key.clone());
        }
    }

    /// A throughput or context case with `--retry-failed`: its failed requests move out (the
    /// whole case for a `duration_s` case).
    fn speed_case(
        &mut self,
        key: &CaseKey,
        kind: &str,
        idx: &[usize],
        samples: &[SampleRow],
        whole_cases: &WholeCases,
    ) {
        // llama-bench-style tests are measured as a whole and are not retried.
        let failed: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|&i| samples[i].test.is_none() && failed_at_server(&samples[i]))
            .collect();
        if failed.is_empty() {
            return;
        }
        if whole_cases.contains(&(key.1.clone(), key.2.clone())) {
            self.samples.extend(idx);
        } else {
            self.samples.extend(&failed);
            if kind == "throughput" {
                self.renumber.insert(key.clone());
            }
        }
        self.reopened.insert(key.clone());
        if kind == "context" {
            // The effective context length is computed over every length again.
            self.reopened.insert(key_of(&key.0, &key.1, "all"));
        }
    }

    /// A multimodal item sent again: its media.csv row and both its requests move out.
    fn items_media(&mut self, m: usize, media: &[MediaRow], rows: &[usize]) {
        self.media.insert(m);
        self.samples.extend(rows);
        let r = &media[m];
        self.reopened
            .insert(key_of(&r.backend, &r.scenario, &r.case_id));
    }
}

pub(super) fn renumber(rows: &mut [SampleRow], cases: &HashSet<CaseKey>) {
    if cases.is_empty() {
        return;
    }
    let mut by_case: HashMap<CaseKey, Vec<usize>> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        let k = sample_key(r);
        if cases.contains(&k) {
            by_case.entry(k).or_default().push(i);
        }
    }
    for idx in by_case.into_values() {
        let mut idx = idx;
        idx.sort_by_key(|&i| rows[i].repetition);
        for (n, i) in idx.into_iter().enumerate() {
            rows[i].repetition = n as u32;
        }
    }
}
