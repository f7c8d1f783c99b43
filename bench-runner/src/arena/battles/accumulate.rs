//! The accumulator behind every way battles are read: model and judge names interned, the
//! judge and model filters applied, dropped rows counted by reason, and the parts that
//! parallel readers parsed merged in order.

use std::collections::HashMap;
use std::path::Path;

use super::{Battle, Battles, ReadOptions, Style, Winner};
use crate::error::{Error, Result};

/// FNV-1a: model names are short and trusted-length; interning two per row with SipHash
/// was a tenth of the time `arena rate` spends on a million battles.
#[derive(Default, Clone, Copy)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FnvMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;

pub(super) struct Accumulator<'o> {
    opts: &'o ReadOptions,
    index: FnvMap<String, u32>,
    out: Battles,
    judge_index: FnvMap<String, u32>,
    judges: Vec<(String, u64)>,
    /// The previous row's judge (rows often come in runs of one judge).
    last_judge: Option<u32>,
    dropped: std::collections::BTreeMap<String, usize>,
    style: Vec<(Style, Style)>,
}

impl<'o> Accumulator<'o> {
    pub(super) fn new(opts: &'o ReadOptions) -> Self {
        Accumulator {
            opts,
            index: FnvMap::default(),
            out: Battles::default(),
            judge_index: FnvMap::default(),
            judges: Vec::new(),
            last_judge: None,
            dropped: Default::default(),
            style: Vec::new(),
        }
    }

    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.out.models.len() as u32;
        self.out.models.push(name.to_string());
        self.index.insert(name.to_string(), i);
        i
    }

    fn count_judge(&mut self, judge: &str, n: u64) {
        let j = match self.last_judge {
            Some(j) if self.judges[j as usize].0 == judge => j,
            _ => match self.judge_index.get(judge) {
                Some(&j) => j,
                None => {
                    let j = self.judges.len() as u32;
                    self.judges.push((judge.to_string(), 0));
                    self.judge_index.insert(judge.to_string(), j);
                    j
                }
            },
        };
        self.judges[j as usize].1 += n;
        self.last_judge = Some(j);
    }

    fn drop_row(&mut self, why: &str) {
        *self.dropped.entry(why.to_string()).or_default() += 1;
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn push(
        &mut self,
        path: &Path,
        line: usize,
        a: &str,
        b: &str,
        winner: &str,
        judge: &str,
        tstamp: f64,
        style: Option<(Style, Style)>,
    ) -> Result<()> {
        let Some(w) = Winner::parse(winner) else {
            return Err(Error::file(
                path,
                format!(
                    "row {line}: winner `{winner}` is not one of model_a, model_b, tie, tie (bothbad)"
                ),
            ));
        };
        if a.is_empty() || b.is_empty() {
            return Err(Error::file(path, format!("row {line}: empty model name")));
        }
        if a == b {
            self.drop_row("a model against itself");
            return Ok(());
        }
        if !self.opts.judges.is_empty() && !self.opts.judges.iter().any(|j| j == judge) {
            self.drop_row("judge filter");
            return Ok(());
        }
        let listed = |m: &str| self.opts.models.iter().any(|x| x == m);
        let kept = self.opts.models.is_empty() || (listed(a) && listed(b));
        if !kept {
            self.drop_row("model filter");
            return Ok(());
        }
        if self.opts.want_style {
            match style {
                Some(s) => self.style.push(s),
                None => {
                    self.drop_row("no style features (style control)");
                    return Ok(());
                }
            }
        }
        self.count_judge(judge, 1);
        let (a, b) = (self.intern(a), self.intern(b));
        self.out.battles.push(Battle {
            a,
            b,
            winner: w,
            tstamp,
        });
        Ok(())
    }

    /// Appends another accumulator's battles (a later piece of the same input).
    pub(super) fn absorb(&mut self, part: Accumulator) {
        let map: Vec<u32> = part.out.models.iter().map(|m| self.intern(m)).collect();
        self.out
            .battles
            .extend(part.out.battles.iter().map(|x| Battle {
                a: map[x.a as usize],
                b: map[x.b as usize],
                ..*x
            }));
        self.style.extend(part.style);
        for (judge, n) in &part.judges {
            self.count_judge(judge, *n);
        }
        for (why, n) in part.dropped {
            *self.dropped.entry(why).or_default() += n;
        }
    }

    pub(super) fn finish(mut self) -> Battles {
        // Models in name order, whatever the order of the rows: the fit, the bootstrap's cells
        // and every output then depend only on the set of battles, not on how it was written.
        let mut order: Vec<u32> = (0..self.out.models.len() as u32).collect();
        order.sort_by(|&x, &y| self.out.models[x as usize].cmp(&self.out.models[y as usize]));
        let mut remap = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            remap[old as usize] = new as u32;
        }
        self.out.models = order
            .iter()
            .map(|&o| std::mem::take(&mut self.out.models[o as usize]))
            .collect();
        for x in &mut self.out.battles {
            x.a = remap[x.a as usize];
            x.b = remap[x.b as usize];
        }
        self.judges.sort_unstable_by(|x, y| x.0.cmp(&y.0));
        self.out.judges = self.judges;
        self.out.dropped = self.dropped.into_iter().collect();
        if self.opts.want_style {
            self.out.style = Some(self.style);
        }
        self.out
    }
}
