//! Audio clips with a known answer: digits spoken by `espeak-ng` (where it is installed), or
//! generated beeps whose count is the answer. Each clip is padded to the requested length
//! with faint noise drawn from the salt, so no two requests send the same bytes.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::MediaError;

/// The sample rate of generated clips: what speech encoders (Whisper and kin) resample to.
pub const TONE_RATE: u32 = 16_000;
/// Length of one beep, and the shortest silence between two.
pub const BEEP_S: f64 = 0.2;
pub const GAP_S: f64 = 0.25;
/// Peak amplitude of a beep and of the padding noise (of i16::MAX).
const BEEP_AMP: f64 = 12_000.0;
const NOISE_AMP: i32 = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioTask {
    /// Digits spoken by espeak-ng; the answer is the digits in order, e.g. `371`.
    Spoken,
    /// Beeps; the answer is their count.
    Tones,
}

impl AudioTask {
    pub fn as_str(self) -> &'static str {
        match self {
            AudioTask::Spoken => "spoken_digits",
            AudioTask::Tones => "tones",
        }
    }

    pub fn question(self) -> &'static str {
        match self {
            AudioTask::Spoken => {
                "Which digits are spoken in the audio? Answer with the digits only, in order, without spaces."
            }
            AudioTask::Tones => "How many beeps are in the audio? Answer with a number only.",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Clip {
    pub task: AudioTask,
    pub wav: Vec<u8>,
    pub seconds: f64,
    pub answer: String,
}

/// `espeak-ng` on the PATH, if any.
pub fn find_espeak() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("espeak-ng"))
        .find(|p| p.is_file())
}

/// Beeps at 16 kHz: 1–9 of them (fewer where the clip is too short), each in its own slot
/// of the clip, at a pitch and offset drawn from the salt.
pub fn tones(seconds: f64, salt: u64) -> Result<Clip, MediaError> {
    check_length(seconds)?;
    let mut rng = ChaCha8Rng::seed_from_u64(salt ^ 0x70E5);
    let fit = ((seconds / (BEEP_S + GAP_S)).floor() as usize).clamp(1, 9);
    let n = rng.random_range(1..=fit);
    let hz = [440.0, 660.0, 880.0, 1000.0][rng.random_range(0..4)];
    let total = (seconds * TONE_RATE as f64).round() as usize;
    let mut samples = noise(total, &mut rng);
    let slot = seconds / n as f64;
    for k in 0..n {
        let room = (slot - BEEP_S - GAP_S).max(0.0);
        let start = k as f64 * slot + rng.random_range(0.0..=room);
        let s0 = (start * TONE_RATE as f64) as usize;
        let len = (BEEP_S * TONE_RATE as f64) as usize;
        for i in 0..len {
            let t = i as f64 / TONE_RATE as f64;
            // A short fade in and out, so each beep is one clean burst.
            let env = (i.min(len - i) as f64 / 160.0).min(1.0);
            let v = BEEP_AMP * env * (2.0 * std::f64::consts::PI * hz * t).sin();
            if let Some(x) = samples.get_mut(s0 + i) {
                *x = v as i16;
            }
        }
    }
    Ok(Clip {
        task: AudioTask::Tones,
        wav: wav(&samples, TONE_RATE)?,
        seconds: total as f64 / TONE_RATE as f64,
        answer: n.to_string(),
    })
}

/// Digits spoken by espeak-ng, half a second in, padded with noise to `seconds` (a longer
/// utterance is kept whole). `work` receives espeak's temporary file.
pub fn spoken_digits(
    seconds: f64,
    salt: u64,
    espeak: &Path,
    work: &Path,
) -> Result<Clip, MediaError> {
    check_length(seconds)?;
    let mut rng = ChaCha8Rng::seed_from_u64(salt ^ 0x5BEA);
    let n = ((seconds / 3.0) as usize).clamp(3, 8);
    let digits: Vec<u32> = (0..n).map(|_| rng.random_range(0..10)).collect();
    let spoken = digits
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let tmp = work.join(format!("espeak-{salt:016x}.wav"));
    let out = std::process::Command::new(espeak)
        .args(["-s", "130", "-w"])
        .arg(&tmp)
        .arg(&spoken)
        .output()
        .map_err(|source| MediaError::Espeak {
            program: espeak.to_path_buf(),
            source,
        })?;
    if !out.status.success() {
        return Err(MediaError::EspeakFailed {
            program: espeak.to_path_buf(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let reader = hound::WavReader::open(&tmp).map_err(MediaError::ReadSpeech)?;
    let rate = reader.spec().sample_rate;
    let speech: Vec<i16> = reader
        .into_samples::<i16>()
        .collect::<Result<_, _>>()
        .map_err(MediaError::ReadSpeech)?;
    let _ = std::fs::remove_file(&tmp);
    let lead = rate as usize / 2;
    let total = ((seconds * rate as f64).round() as usize).max(lead + speech.len());
    let mut samples = noise(total, &mut rng);
    for (i, s) in speech.iter().enumerate() {
        samples[lead + i] = s.saturating_add(samples[lead + i]);
    }
    Ok(Clip {
        task: AudioTask::Spoken,
        wav: wav(&samples, rate)?,
        seconds: total as f64 / rate as f64,
        answer: digits.iter().map(u32::to_string).collect(),
    })
}

fn check_length(seconds: f64) -> Result<(), MediaError> {
    if !(seconds.is_finite() && (0.5..=600.0).contains(&seconds)) {
        return Err(MediaError::AudioLength { seconds });
    }
    Ok(())
}

fn noise(n: usize, rng: &mut ChaCha8Rng) -> Vec<i16> {
    (0..n)
        .map(|_| rng.random_range(-NOISE_AMP..=NOISE_AMP) as i16)
        .collect()
}

fn wav(samples: &[i16], rate: u32) -> Result<Vec<u8>, MediaError> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cur = std::io::Cursor::new(Vec::new());
    {
        let mut w = hound::WavWriter::new(&mut cur, spec).map_err(MediaError::Wav)?;
        for &s in samples {
            w.write_sample(s).map_err(MediaError::Wav)?;
        }
        w.finalize().map_err(MediaError::Wav)?;
    }
    Ok(cur.into_inner())
}

/// Counts beeps in 16-bit mono samples: runs of 10 ms windows whose peak is far above the
/// noise floor. Used by the tests to check a clip against its declared answer.
pub fn count_bursts(samples: &[i16], rate: u32) -> usize {
    let win = (rate / 100).max(1) as usize;
    let mut count = 0;
    let mut loud = false;
    for w in samples.chunks(win) {
        let peak = w.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
        let now = peak > 2_000;
        if now && !loud {
            count += 1;
        }
        loud = now;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tones_are_deterministic_salted_and_counted() {
        for salt in 0..20 {
            let a = tones(5.0, salt).unwrap();
            assert_eq!(a.wav, tones(5.0, salt).unwrap().wav);
            let r = hound::WavReader::new(std::io::Cursor::new(&a.wav)).unwrap();
            let s: Vec<i16> = r.into_samples().map(Result::unwrap).collect();
            assert_eq!(s.len(), 5 * TONE_RATE as usize);
            assert_eq!(count_bursts(&s, TONE_RATE).to_string(), a.answer);
        }
        assert_ne!(tones(5.0, 1).unwrap().wav, tones(5.0, 2).unwrap().wav);
        assert!(tones(0.0, 1).is_err());
    }
}
