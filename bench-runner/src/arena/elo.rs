//! Online Elo, a side statistic: battles in time order, every model starting at 1000,
//! K = 4, base 10, scale 400. Expected score of A: Eₐ = 1 / (1 + 10^((R_b − R_a)/400));
//! after a battle with outcome y (1, ½, 0): R_a += K (y − Eₐ), R_b −= K (y − Eₐ).
//! It depends on the order of battles (which BT does not), which is why it is not the rating.

use super::battles::Battles;

pub const K: f64 = 4.0;

pub fn online(b: &Battles) -> Vec<f64> {
    let mut r = vec![1000.0; b.models.len()];
    let sorted = b.battles.is_sorted_by(|x, y| x.tstamp <= y.tstamp);
    let mut order: Vec<usize> = (0..b.battles.len()).collect();
    if !sorted {
        // Stable: battles with the same stamp keep file order.
        order.sort_by(|&x, &y| b.battles[x].tstamp.total_cmp(&b.battles[y].tstamp));
    }
    for i in order {
        let x = &b.battles[i];
        let (a, bb) = (x.a as usize, x.b as usize);
        let ea = 1.0 / (1.0 + 10f64.powf((r[bb] - r[a]) / 400.0));
        let d = K * (x.winner.y() - ea);
        r[a] += d;
        r[bb] -= d;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arena::battles::{Battle, Winner};

    #[test]
    fn one_win_moves_two_points_each() {
        let b = Battles {
            models: vec!["a".into(), "b".into()],
            battles: vec![Battle {
                a: 0,
                b: 1,
                winner: Winner::A,
                tstamp: 0.0,
            }],
            ..Default::default()
        };
        assert_eq!(online(&b), vec![1002.0, 998.0]);
    }
}
