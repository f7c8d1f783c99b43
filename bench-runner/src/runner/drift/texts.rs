//! The shared text of a drift scenario: a seeded mix of prose, code and chat, the same on
//! every backend and every run with the same seed. Each side tokenizes it itself (the token
//! ids are then compared: equal ids are the comparability check), and it is cut to the
//! case's length in tokens.

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::scenario::drift::TextKind;

const PROSE: &[&str] = &[
    "The river bends twice before it reaches the old mill, and in spring the water rises high enough to cover the lower steps.",
    "Most of the village had gone to the market that morning, so the square was quiet except for a dog asleep in the sun.",
    "She kept a notebook of every bird she had seen, with the date, the weather and a small drawing beside each name.",
    "When the train finally arrived, it was forty minutes late and so full that half the passengers had to stand.",
    "The committee agreed to postpone the decision until the engineers had measured the bridge again after the storm.",
    "Bread rises more slowly in a cold kitchen, which is why bakers once kept their dough near the warm ovens overnight.",
    "He read the letter twice, folded it carefully, and put it back in the drawer without saying a word to anyone.",
    "In the nineteenth century the harbour handled more grain than any other port on the coast.",
    "The museum opens at nine on weekdays; on Sundays it opens at eleven and closes an hour earlier.",
    "A light rain had started by the time they reached the top of the hill, and the view was mostly cloud.",
];

const CODE: &[&str] = &[
    "fn mean(xs: &[f64]) -> Option<f64> {\n    if xs.is_empty() {\n        return None;\n    }\n    Some(xs.iter().sum::<f64>() / xs.len() as f64)\n}\n",
    "def parse_line(line):\n    key, _, value = line.partition('=')\n    return key.strip(), value.strip()\n",
    "for (int i = 0; i < n; ++i) {\n    total += values[i] * weights[i];\n}\n",
    "const items = data.filter(d => d.active).map(d => d.name);\nconsole.log(items.join(', '));\n",
    "SELECT name, COUNT(*) AS n FROM orders WHERE status = 'shipped' GROUP BY name ORDER BY n DESC;\n",
    "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, x):\n        self.items.append(x)\n",
    "let mut map = HashMap::new();\nfor word in text.split_whitespace() {\n    *map.entry(word).or_insert(0) += 1;\n}\n",
    "if err != nil {\n    return fmt.Errorf(\"open %s: %w\", path, err)\n}\n",
];

const CHAT: &[(&str, &str)] = &[
    (
        "How many days are there in a leap year?",
        "A leap year has 366 days: February gets a 29th day.",
    ),
    (
        "Can you suggest a name for a grey cat?",
        "How about Ash, Pebble or Smokey? All three suit a grey coat.",
    ),
    (
        "What is the capital of Canada?",
        "The capital of Canada is Ottawa, in the province of Ontario.",
    ),
    (
        "Translate 'good morning' into French.",
        "'Good morning' in French is 'bonjour'.",
    ),
    (
        "Why is the sky blue?",
        "Sunlight scatters off air molecules, and blue light scatters the most, so the sky looks blue.",
    ),
    (
        "Give me a quick tip for sleeping better.",
        "Keep the same wake-up time every day, even at weekends.",
    ),
];

/// The text of item `index` of a case: `kind`, at least `min_chars` long, drawn from `seed`.
pub fn text(kind: TextKind, seed: u64, index: u32, min_chars: usize) -> String {
    let mut rng =
        ChaCha8Rng::seed_from_u64(seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut out = String::new();
    match kind {
        TextKind::Prose => {
            let mut pool: Vec<&str> = PROSE.to_vec();
            while out.len() < min_chars {
                pool.shuffle(&mut rng);
                for s in &pool {
                    if !out.is_empty() {
                        out.push(' ');
                    }
                    out.push_str(s);
                }
            }
        }
        TextKind::Code => {
            while out.len() < min_chars {
                out.push_str(CODE.choose(&mut rng).copied().unwrap_or_default());
                out.push('\n');
            }
        }
        TextKind::Chat => {
            while out.len() < min_chars {
                let (q, a) = CHAT[rng.random_range(0..CHAT.len())];
                out.push_str(&format!("User: {q}\nAssistant: {a}\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_seeded_and_long_enough() {
        let a = text(TextKind::Code, 7, 0, 500);
        assert!(a.len() >= 500);
        assert_eq!(a, text(TextKind::Code, 7, 0, 500));
        assert_ne!(a, text(TextKind::Code, 7, 1, 500));
        assert!(text(TextKind::Chat, 7, 0, 100).starts_with("User: "));
    }
}
