//! Per-request metrics, defined as vLLM's `bench serve`, AIPerf and MLPerf define them:
//!
//! - TTFT = arrival of the first read carrying generated content − request sent;
//! - E2E  = arrival of the last read carrying generated content − request sent;
//! - TPOT = (E2E − TTFT) / (output_tokens − 1), decode tok/s = 1000 / TPOT;
//! - ITL  = gaps between content reads; a read carrying k tokens counts as k gaps of gap/k;
//! - prefill tok/s = prompt_tokens / TTFT (client side; the server's prompt_ms is kept beside).
//!
//! Network reads are never counted as tokens: output_tokens comes from the server's usage
//! (or the tokenizer). When each read's token count is not known exactly (the per-read event
//! counts do not sum to output_tokens), tokens are apportioned to reads by their event counts
//! and the result says `itl_exact = false`.

/// Arrival offsets of content reads, relative to the moment the request was sent.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// (milliseconds since sent, token hint for the read: SSE events carrying content).
    pub reads: Vec<(f64, u32)>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestMetrics {
    pub ttft_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    pub decode_tok_s: Option<f64>,
    pub prefill_tok_s: Option<f64>,
    /// Inter-token latencies in ms (output_tokens − 1 values when exact).
    pub itl_ms: Vec<f64>,
    pub itl_exact: bool,
    /// Content reads (network reads that carried generated content).
    pub content_reads: u32,
    /// Mean tokens per content read; > 1 means the stream is buffered or batched.
    pub tokens_per_read: Option<f64>,
    /// Share of gaps shorter than a tenth of the mean gap: tokens arriving in bursts. The mean,
    /// not the median: when most tokens arrive in bursts the median gap is itself ~0.
    pub burst_fraction: Option<f64>,
}

/// Computes the metrics of one request.
pub fn compute(
    t: &Timeline,
    prompt_tokens: Option<u64>,
    output_tokens: Option<u64>,
) -> RequestMetrics {
    let mut m = RequestMetrics {
        content_reads: t.reads.len() as u32,
        ..Default::default()
    };
    let (Some(&(first, _)), Some(&(last, _))) = (t.reads.first(), t.reads.last()) else {
        return m;
    };
    m.ttft_ms = Some(first);
    m.e2e_ms = Some(last);
    if let Some(p) = prompt_tokens.filter(|&p| p > 0 && first > 0.0) {
        m.prefill_tok_s = Some(p as f64 * 1000.0 / first);
    }
    let out = output_tokens.unwrap_or_else(|| t.reads.iter().map(|r| r.1 as u64).sum());
    if out >= 2 && last > first {
        let tpot = (last - first) / (out - 1) as f64;
        m.tpot_ms = Some(tpot);
        m.decode_tok_s = Some(1000.0 / tpot);
    }
    if out > 0 {
        m.tokens_per_read = Some(out as f64 / t.reads.len() as f64);
    }
    let hints: Vec<u64> = t.reads.iter().map(|r| r.1 as u64).collect();
    let hint_sum: u64 = hints.iter().sum();
    let tokens = if hint_sum == out {
        m.itl_exact = true;
        hints
    } else {
        apportion(out, &hints)
    };
    // The output count comes from the server: one that claims more tokens than any stream
    // could carry must not make us allocate a gap per claimed token (an abort, not an error).
    if out > MAX_ITL_TOKENS {
        return m;
    }
    // The first read's tokens beyond the first one also arrived "at once": they are gaps of 0.
    let mut itl = Vec::with_capacity(out.saturating_sub(1) as usize);
    if let Some(&k0) = tokens.first() {
        itl.extend(std::iter::repeat_n(0.0, k0.saturating_sub(1) as usize));
    }
    for w in 1..t.reads.len() {
        let gap = t.reads[w].0 - t.reads[w - 1].0;
        let k = tokens[w];
        if k == 0 {
            continue;
        }
        itl.extend(std::iter::repeat_n(gap / k as f64, k as usize));
    }
    if itl.len() >= 4 && t.reads.len() >= 3 {
        let gaps: Vec<f64> = t.reads.windows(2).map(|w| w[1].0 - w[0].0).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let bursts = gaps.iter().filter(|&&g| g < mean * 0.1).count();
        m.burst_fraction = Some(bursts as f64 / gaps.len() as f64);
    }
    m.itl_ms = itl;
    m
}

/// Most output tokens whose gaps are expanded into the ITL list (8 MB of f64): far beyond any
/// real request, far below what would exhaust memory.
const MAX_ITL_TOKENS: u64 = 1 << 20;

/// Splits `total` into integer parts proportional to `weights` (largest remainder method).
fn apportion(total: u64, weights: &[u64]) -> Vec<u64> {
    let wsum: u64 = weights.iter().sum();
    if weights.is_empty() {
        return Vec::new();
    }
    if wsum == 0 {
        let mut v = vec![total / weights.len() as u64; weights.len()];
        for x in v.iter_mut().take((total % weights.len() as u64) as usize) {
            *x += 1;
        }
        return v;
    }
    let exact: Vec<f64> = weights
        .iter()
        .map(|&w| total as f64 * w as f64 / wsum as f64)
        .collect();
    let mut parts: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
    let mut rest = total - parts.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())));
    for i in order {
        if rest == 0 {
            break;
        }
        parts[i] += 1;
        rest -= 1;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tl(reads: &[(f64, u32)]) -> Timeline {
        Timeline {
            reads: reads.to_vec(),
        }
    }

    #[test]
    fn one_token_per_read() {
        let m = compute(
            &tl(&[(100.0, 1), (110.0, 1), (120.0, 1), (130.0, 1), (140.0, 1)]),
            Some(500),
            Some(5),
        );
        assert_eq!(m.ttft_ms, Some(100.0));
        assert_eq!(m.e2e_ms, Some(140.0));
        assert_eq!(m.tpot_ms, Some(10.0));
        assert_eq!(m.decode_tok_s, Some(100.0));
        assert_eq!(m.prefill_tok_s, Some(5000.0));
        assert_eq!(m.itl_ms, vec![10.0; 4]);
        assert!(m.itl_exact);
        assert_eq!(m.tokens_per_read, Some(1.0));
        assert_eq!(m.burst_fraction, Some(0.0));
    }

    #[test]
    fn an_absurd_server_token_count_allocates_nothing() {
        // A server claiming 10¹⁵ output tokens over three reads: figures, but no ITL list.
        let m = compute(&tl(&[(50.0, 1), (80.0, 1), (90.0, 1)]), None, Some(1 << 50));
        assert!(m.itl_ms.is_empty());
        assert_eq!(m.ttft_ms, Some(50.0));
    }

    #[test]
    fn a_read_with_k_tokens_counts_as_k_gaps() {
        // 1 token, then 3 tokens together 30 ms later, then 1 token 10 ms later.
        let m = compute(&tl(&[(50.0, 1), (80.0, 3), (90.0, 1)]), None, Some(5));
        assert_eq!(m.itl_ms, vec![10.0, 10.0, 10.0, 10.0]);
        assert_eq!(m.tpot_ms, Some(10.0));
        assert!(m.itl_exact);
    }

    #[test]
    fn usage_not_matching_reads_is_apportioned_and_flagged() {
        let m = compute(&tl(&[(10.0, 1), (20.0, 1)]), None, Some(4));
        assert!(!m.itl_exact);
        assert_eq!(m.itl_ms.len(), 3);
        assert_eq!(m.tpot_ms, Some(10.0 / 3.0));
        assert_eq!(m.tokens_per_read, Some(2.0));
    }

    #[test]
    fn empty_and_single_token_requests() {
        let m = compute(&tl(&[]), Some(10), Some(0));
        assert_eq!(m.ttft_ms, None);
        let m = compute(&tl(&[(30.0, 1)]), Some(10), Some(1));
        assert_eq!(m.ttft_ms, Some(30.0));
        assert_eq!(m.tpot_ms, None);
        assert!(m.itl_ms.is_empty());
    }

    #[test]
    fn tokens_held_back_and_released_together_are_bursts() {
        // Seven tokens every 150 ms, released within microseconds of each other.
        let mut reads = Vec::new();
        for batch in 0..4 {
            for k in 0..7 {
                reads.push((150.0 * batch as f64 + 0.001 * k as f64, 1));
            }
        }
        let m = compute(&tl(&reads), None, Some(28));
        assert!(m.burst_fraction.unwrap() > 0.8, "{:?}", m.burst_fraction);
    }

    #[test]
    fn apportion_sums_to_total() {
        assert_eq!(apportion(10, &[1, 1, 1]).iter().sum::<u64>(), 10);
        assert_eq!(apportion(3, &[0, 0]), vec![2, 1]);
        assert_eq!(apportion(6, &[1, 2]), vec![2, 4]);
    }
}
