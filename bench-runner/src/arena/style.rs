//! Style: the Markdown features of an answer (FastChat's `conv_metadata` counts), and the
//! style-controlled Bradley-Terry fit that separates "better" from "longer and bolder".
//!
//! Features per battle, for f ∈ {tokens, headers, lists, bold}: the normalised difference
//! z_f = (f_A − f_B) / (f_A + f_B) (0 when both are 0), then divided by its standard
//! deviation over the battles (centred), so the coefficients are comparable.
//! Model: P(A wins) = σ(θ_A − θ_B + βᵀz), fit by Newton on the per-battle data (styles do not
//! aggregate into pair counts) with a small L2 penalty λ = 10⁻⁶ on θ and 10⁻³ on β. Ties count
//! y = ½ as in the plain fit. The ratings are the θ part; their intervals come from the
//! sandwich estimator of this fit (H⁻¹GH⁻¹ on the θ block), which costs one pass, where a
//! bootstrap would cost a thousand passes over every battle.

use super::battles::{Battles, Style};
use super::bradley_terry::DEFAULT_RIDGE;
use super::linalg::{cholesky, cholesky_solve, matmul, spd_inverse};
use super::logistic::{log_sigmoid, sigmoid};

pub const FEATURES: [&str; 4] = ["tokens", "headers", "lists", "bold"];
pub const BETA_RIDGE: f64 = 1e-3;

/// Counts the Markdown features of an answer; `tokens` is the backend's completion count
/// where known, else the number of whitespace-separated words.
pub fn features(text: &str, tokens: Option<u64>) -> Style {
    let mut headers = 0usize;
    let mut lists = 0usize;
    for line in text.lines() {
        let t = line.trim_start();
        let hashes = t.bytes().take_while(|&b| b == b'#').count();
        if (1..=6).contains(&hashes) && t[hashes..].starts_with(' ') {
            headers += 1;
            continue;
        }
        let bullet = ["- ", "* ", "+ "].iter().any(|b| t.starts_with(b));
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        let ordered =
            digits > 0 && (t[digits..].starts_with(". ") || t[digits..].starts_with(") "));
        if bullet || ordered {
            lists += 1;
        }
    }
    let bold = text.matches("**").count() / 2 + text.matches("__").count() / 2;
    let tokens = tokens.map_or_else(|| text.split_whitespace().count() as f64, |t| t as f64);
    Style {
        tokens,
        headers: headers as f64,
        lists: lists as f64,
        bold: bold as f64,
    }
}

/// The normalised, standardised feature matrix (battles × 4).
pub fn design(style: &[(Style, Style)]) -> Vec<[f64; 4]> {
    let mut z: Vec<[f64; 4]> = style
        .iter()
        .map(|(a, b)| {
            let (a, b) = (a.as_array(), b.as_array());
            let mut r = [0.0; 4];
            for f in 0..4 {
                let s = a[f] + b[f];
                r[f] = if s > 0.0 { (a[f] - b[f]) / s } else { 0.0 };
            }
            r
        })
        .collect();
    let n = z.len().max(1) as f64;
    for f in 0..4 {
        let mean = z.iter().map(|r| r[f]).sum::<f64>() / n;
        let sd = (z.iter().map(|r| (r[f] - mean).powi(2)).sum::<f64>() / n).sqrt();
        for r in z.iter_mut() {
            r[f] = if sd > 0.0 { (r[f] - mean) / sd } else { 0.0 };
        }
    }
    z
}

#[derive(Debug, Clone)]
pub struct StyleFit {
    pub theta: Vec<f64>,
    pub beta: [f64; 4],
    /// Sandwich covariance of θ (k × k, gauge Σθ = 0).
    pub cov: Option<Vec<f64>>,
    pub converged: bool,
}

struct Problem<'a> {
    b: &'a Battles,
    z: &'a [[f64; 4]],
    k: usize,
}

impl Problem<'_> {
    fn ridge(&self, p: usize) -> f64 {
        if p < self.k {
            DEFAULT_RIDGE
        } else {
            BETA_RIDGE
        }
    }

    fn loss(&self, w: &[f64]) -> f64 {
        let k = self.k;
        let mut l = 0.0;
        for (x, z) in self.b.battles.iter().zip(self.z) {
            let d =
                w[x.a as usize] - w[x.b as usize] + (0..4).map(|f| w[k + f] * z[f]).sum::<f64>();
            let y = x.winner.y();
            l -= y * log_sigmoid(d) + (1.0 - y) * log_sigmoid(-d);
        }
        l + w
            .iter()
            .enumerate()
            .map(|(p, v)| 0.5 * self.ridge(p) * v * v)
            .sum::<f64>()
    }

    /// Gradient, Hessian and (when `meat`) the outer-product matrix G.
    fn derivatives(&self, w: &[f64], g: &mut [f64], h: &mut [f64], meat: Option<&mut Vec<f64>>) {
        let k = self.k;
        let m = k + 4;
        for p in 0..m {
            g[p] = self.ridge(p) * w[p];
        }
        h.iter_mut().for_each(|x| *x = 0.0);
        for p in 0..m {
            h[p * m + p] = self.ridge(p);
        }
        let mut meat = meat;
        for (x, z) in self.b.battles.iter().zip(self.z) {
            let (a, b) = (x.a as usize, x.b as usize);
            let d = w[a] - w[b] + (0..4).map(|f| w[k + f] * z[f]).sum::<f64>();
            let q = sigmoid(d);
            let r = x.winner.y() - q;
            // x̃ = e_a − e_b ⊕ z; g −= r x̃; H += q(1−q) x̃ x̃ᵀ; G += r² x̃ x̃ᵀ.
            g[a] -= r;
            g[b] += r;
            for f in 0..4 {
                g[k + f] -= r * z[f];
            }
            let add = |mat: &mut [f64], c: f64| {
                mat[a * m + a] += c;
                mat[b * m + b] += c;
                mat[a * m + b] -= c;
                mat[b * m + a] -= c;
                for f in 0..4 {
                    let cz = c * z[f];
                    mat[a * m + k + f] += cz;
                    mat[(k + f) * m + a] += cz;
                    mat[b * m + k + f] -= cz;
                    mat[(k + f) * m + b] -= cz;
                    for e in 0..4 {
                        mat[(k + f) * m + k + e] += cz * z[e];
                    }
                }
            };
            add(h, q * (1.0 - q));
            if let Some(gm) = meat.as_deref_mut() {
                add(gm, r * r);
            }
        }
    }
}

/// Lifts the θ gauge direction (1 on the θ block, 0 on β) by its mean diagonal.
fn lift(h: &mut [f64], k: usize) {
    let m = k + 4;
    let alpha = (0..k).map(|i| h[i * m + i]).sum::<f64>() / k.max(1) as f64;
    for i in 0..k {
        for j in 0..k {
            h[i * m + j] += alpha;
        }
    }
}

fn recenter(w: &mut [f64], k: usize) {
    let mean = w[..k].iter().sum::<f64>() / k.max(1) as f64;
    w[..k].iter_mut().for_each(|t| *t -= mean);
}

/// Fits the style-controlled model; `b.style` must be present.
pub fn fit(b: &Battles) -> Option<StyleFit> {
    let style = b.style.as_ref()?;
    let k = b.models.len();
    if k < 2 {
        return None;
    }
    let z = design(style);
    let pr = Problem { b, z: &z, k };
    let m = k + 4;
    let mut w = vec![0.0; m];
    let mut g = vec![0.0; m];
    let mut h = vec![0.0; m * m];
    let mut cur = pr.loss(&w);
    let mut converged = false;
    for _ in 0..100 {
        pr.derivatives(&w, &mut g, &mut h, None);
        lift(&mut h, k);
        cholesky(&mut h, m)?;
        let mut step: Vec<f64> = g.iter().map(|x| -x).collect();
        cholesky_solve(&h, m, &mut step);
        let mut t = 1.0;
        let mut moved = 0.0f64;
        let mut accepted = false;
        for _ in 0..40 {
            let mut next: Vec<f64> = w.iter().zip(&step).map(|(a, s)| a + t * s).collect();
            recenter(&mut next, k);
            let l = pr.loss(&next);
            if l <= cur || (l - cur).abs() <= 1e-15 * cur.abs().max(1.0) {
                moved = step.iter().map(|s| (t * s).abs()).fold(0.0, f64::max);
                w = next;
                cur = l;
                accepted = true;
                break;
            }
            t *= 0.5;
        }
        if !accepted || moved < 1e-10 {
            converged = accepted || moved < 1e-10;
            break;
        }
    }
    // Sandwich on the θ block.
    let mut meat = vec![0.0; m * m];
    pr.derivatives(&w, &mut g, &mut h, Some(&mut meat));
    lift(&mut h, k);
    let cov = spd_inverse(&h, m).map(|hinv| {
        let full = matmul(&matmul(&hinv, &meat, m), &hinv, m);
        let mut c: Vec<f64> = (0..k * k).map(|x| full[(x / k) * m + x % k]).collect();
        // Project onto Σθ = 0.
        let mut row = vec![0.0; k];
        let mut all = 0.0;
        for i in 0..k {
            for j in 0..k {
                row[i] += c[i * k + j] / k as f64;
                all += c[i * k + j] / (k * k) as f64;
            }
        }
        for i in 0..k {
            for j in 0..k {
                c[i * k + j] += all - row[i] - row[j];
            }
        }
        c
    });
    Some(StyleFit {
        theta: w[..k].to_vec(),
        beta: [w[k], w[k + 1], w[k + 2], w[k + 3]],
        cov,
        converged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_markdown() {
        let s = features(
            "# Title\n\nSome **bold** and __more__.\n\n- one\n* two\n1. three\n10) four\n#notheader\n",
            None,
        );
        assert_eq!((s.headers, s.lists, s.bold), (1.0, 4.0, 2.0));
        assert_eq!(features("a b c", Some(7)).tokens, 7.0);
        assert_eq!(features("a b c", None).tokens, 3.0);
    }
}
