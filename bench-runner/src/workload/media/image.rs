//! Images with a known answer, drawn by our own code: a large digit, a large word, a count of
//! red circles among blue squares, or the side a green square is on. Each is salted (sparse
//! background speckle from the salt), so no two requests send the same bytes and no server
//! cache can serve one; the content a model is asked about does not depend on the speckle.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::MediaError;

/// What an image asks, and so how its answer is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageTask {
    Digit,
    Word,
    Count,
    Side,
}

impl ImageTask {
    pub const ALL: [ImageTask; 4] = [
        ImageTask::Digit,
        ImageTask::Word,
        ImageTask::Count,
        ImageTask::Side,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ImageTask::Digit => "digit",
            ImageTask::Word => "word",
            ImageTask::Count => "count",
            ImageTask::Side => "side",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The question, with the answer format stated (scoring is exact match).
    pub fn question(self) -> &'static str {
        match self {
            ImageTask::Digit => "What digit is drawn in the image? Answer with the digit only.",
            ImageTask::Word => {
                "What word is written in the image? Answer with the word only, in lowercase."
            }
            ImageTask::Count => "How many red circles are in the image? Answer with a number only.",
            ImageTask::Side => {
                "Is the green square on the left or the right side of the image? Answer with one word: left or right."
            }
        }
    }
}

/// Words drawn by the `word` task: short, common, and made of the letters the font has.
pub const WORDS: &[&str] = &["cat", "dog", "sun", "box", "key", "map", "red", "cup"];

pub const RED: [u8; 3] = [220, 30, 30];
pub const BLUE: [u8; 3] = [30, 60, 220];
pub const GREEN: [u8; 3] = [30, 170, 60];
pub const INK: [u8; 3] = [20, 20, 20];
const BACKGROUND: [u8; 3] = [245, 245, 240];

/// A rendered image and what it shows.
#[derive(Debug, Clone)]
pub struct Image {
    pub task: ImageTask,
    pub width: u32,
    pub height: u32,
    pub png: Vec<u8>,
    /// The expected answer, already normalised (`7`, `cat`, `3`, `left`).
    pub answer: String,
}

/// An RGB canvas.
struct Canvas {
    w: u32,
    h: u32,
    px: Vec<u8>,
}

impl Canvas {
    fn new(w: u32, h: u32) -> Self {
        let mut px = Vec::with_capacity((w * h * 3) as usize);
        for _ in 0..w * h {
            px.extend_from_slice(&BACKGROUND);
        }
        Canvas { w, h, px }
    }

    fn set(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as u32) < self.w && (y as u32) < self.h {
            let i = ((y as u32 * self.w + x as u32) * 3) as usize;
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }

    fn rect(&mut self, x0: i64, y0: i64, w: i64, h: i64, c: [u8; 3]) {
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                self.set(x, y, c);
            }
        }
    }

    fn disc(&mut self, cx: i64, cy: i64, r: i64, c: [u8; 3]) {
        for y in cy - r..=cy + r {
            for x in cx - r..=cx + r {
                if (x - cx).pow(2) + (y - cy).pow(2) <= r * r {
                    self.set(x, y, c);
                }
            }
        }
    }
}

/// Width and height of an image whose long side is `long_side` (4:3 landscape).
pub fn dimensions(long_side: u32) -> (u32, u32) {
    (long_side, (long_side * 3 / 4).max(1))
}

/// Renders one image. The same (task, size, salt) always gives the same bytes.
pub fn render(task: ImageTask, long_side: u32, salt: u64) -> Result<Image, MediaError> {
    if !(16..=8192).contains(&long_side) {
        return Err(MediaError::ImageSize { long_side });
    }
    let (w, h) = dimensions(long_side);
    let mut rng = ChaCha8Rng::seed_from_u64(salt ^ 0x1A6E_5EED);
    let mut c = Canvas::new(w, h);
    let answer = match task {
        ImageTask::Digit => {
            let d = rng.random_range(0..10u32);
            let s = d.to_string();
            draw_text(&mut c, &s);
            s
        }
        ImageTask::Word => {
            let word = WORDS[rng.random_range(0..WORDS.len())];
            draw_text(&mut c, word);
            word.to_string()
        }
        ImageTask::Count => {
            let n = rng.random_range(1..=6usize);
            let distractors = rng.random_range(0..=3usize);
            let cells = shuffled_cells(&mut rng);
            let (cw, ch) = (w as i64 / GRID_COLS, h as i64 / GRID_ROWS);
            for (k, &(col, row)) in cells.iter().take(n + distractors).enumerate() {
                let (cx, cy) = (col * cw + cw / 2, row * ch + ch / 2);
                let r = (cw.min(ch) * 3 / 10).max(2);
                if k < n {
                    c.disc(cx, cy, r, RED);
                } else {
                    c.rect(cx - r, cy - r, 2 * r, 2 * r, BLUE);
                }
            }
            n.to_string()
        }
        ImageTask::Side => {
            let left = rng.random_bool(0.5);
            let side = (w.min(h) as i64 / 4).max(2);
            // Within the outer third of its half, so the side is never in doubt.
            let third = w as i64 / 3;
            let x0 = if left {
                rng.random_range(0..(third - side).max(1))
            } else {
                w as i64 - third + rng.random_range(0..(third - side).max(1))
            };
            let y0 = rng.random_range(0..(h as i64 - side).max(1));
            c.rect(x0, y0, side, side, GREEN);
            if left { "left" } else { "right" }.to_string()
        }
    };
    speckle(&mut c, &mut rng);
    Ok(Image {
        task,
        width: w,
        height: h,
        png: encode_png(&c)?,
        answer,
    })
}

/// The salt: a sparse speckle of near-background greys, far from any drawn colour.
fn speckle(c: &mut Canvas, rng: &mut ChaCha8Rng) {
    let n = (c.w * c.h / 256).max(16);
    for _ in 0..n {
        let x = rng.random_range(0..c.w) as usize;
        let y = rng.random_range(0..c.h) as usize;
        let i = (y * c.w as usize + x) * 3;
        if c.px[i..i + 3] == BACKGROUND {
            let g = rng.random_range(225..=255u8);
            c.px[i..i + 3].copy_from_slice(&[g, g, g]);
        }
    }
}

pub const GRID_COLS: i64 = 4;
pub const GRID_ROWS: i64 = 3;

fn shuffled_cells(rng: &mut ChaCha8Rng) -> Vec<(i64, i64)> {
    let mut cells: Vec<(i64, i64)> = (0..GRID_ROWS)
        .flat_map(|r| (0..GRID_COLS).map(move |c| (c, r)))
        .collect();
    for i in (1..cells.len()).rev() {
        let j = rng.random_range(0..=i);
        cells.swap(i, j);
    }
    cells
}

/// Where text of `len` glyphs goes on a `w`×`h` image: top-left corner and pixels per font
/// dot. Public so tests can check the drawn glyphs against the font.
pub fn text_layout(w: u32, h: u32, len: usize) -> (i64, i64, i64) {
    let cols = (6 * len as i64 - 1).max(1);
    let scale = ((w as i64 * 8 / 10) / cols)
        .min((h as i64 * 6 / 10) / 7)
        .max(1);
    let x0 = (w as i64 - cols * scale) / 2;
    let y0 = (h as i64 - 7 * scale) / 2;
    (x0, y0, scale)
}

fn draw_text(c: &mut Canvas, text: &str) {
    let (x0, y0, s) = text_layout(c.w, c.h, text.chars().count());
    for (k, ch) in text.chars().enumerate() {
        let Some(g) = glyph(ch) else { continue };
        for (row, bits) in g.iter().enumerate() {
            for col in 0..5 {
                if bits & (0b10000 >> col) != 0 {
                    let x = x0 + (k as i64 * 6 + col) * s;
                    let y = y0 + row as i64 * s;
                    c.rect(x, y, s, s, INK);
                }
            }
        }
    }
}

/// A 5×7 bitmap font for the digits and the letters of [`WORDS`]; each row's low 5 bits,
/// most significant bit leftmost.
pub fn glyph(c: char) -> Option<[u8; 7]> {
    Some(match c.to_ascii_uppercase() {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04],
        _ => return None,
    })
}

fn encode_png(c: &Canvas) -> Result<Vec<u8>, MediaError> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, c.w, c.h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(MediaError::Png)?;
    w.write_image_data(&c.px).map_err(MediaError::Png)?;
    w.finish().map_err(MediaError::Png)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_has_glyphs() {
        for w in WORDS {
            assert!(w.chars().all(|c| glyph(c).is_some()), "{w}");
        }
        for d in '0'..='9' {
            assert!(glyph(d).is_some());
        }
    }

    #[test]
    fn deterministic_and_salted() {
        let a = render(ImageTask::Count, 224, 1).unwrap();
        let b = render(ImageTask::Count, 224, 1).unwrap();
        let c = render(ImageTask::Count, 224, 2).unwrap();
        assert_eq!(a.png, b.png);
        assert_ne!(a.png, c.png);
        let Err(e) = render(ImageTask::Digit, 4, 1) else {
            panic!("4 px is too small");
        };
        assert!(matches!(e, MediaError::ImageSize { long_side: 4 }));
        assert_eq!(e.to_string(), "image long side 4 px is outside 16..=8192");
    }
}
