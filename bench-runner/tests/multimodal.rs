//! Multimodal scenarios: the media we draw and speak say what their answers claim (read back
//! from the files), the image-encoding path of a real llama-server runs on the tiny model
//! pair that `scripts/make-tiny-vlm` writes, and a server without a projector gives
//! `unsupported_modality` rows while the run goes on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use edgebench::results::media::{MediaRow, read_media};
use edgebench::results::reader::{read_samples, read_summary};
use edgebench::workload::media::audio;
use edgebench::workload::media::image::{self, BLUE, GREEN, INK, ImageTask, RED};

use crate::common::*;

fn tiny_vlm() -> (PathBuf, PathBuf) {
    let m = repo_root().join("models/tiny-vlm.gguf");
    let p = repo_root().join("models/tiny-vlm-mmproj.gguf");
    assert!(
        m.exists() && p.exists(),
        "{} / {} missing: run scripts/setup first",
        m.display(),
        p.display()
    );
    (m, p)
}

/// Decodes a PNG into (width, height, RGB bytes).
fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let dec = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut r = dec.read_info().expect("a PNG header");
    let mut buf = vec![0; r.output_buffer_size().expect("buffer size")];
    let info = r.next_frame(&mut buf).expect("a PNG frame");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

fn px(rgb: &[u8], w: u32, x: i64, y: i64) -> [u8; 3] {
    let i = ((y as u32 * w + x as u32) * 3) as usize;
    [rgb[i], rgb[i + 1], rgb[i + 2]]
}

/// Connected regions (4-neighbour) of exactly colour `c`.
fn regions(rgb: &[u8], w: u32, h: u32, c: [u8; 3]) -> usize {
    let mut seen = vec![false; (w * h) as usize];
    let mut n = 0;
    for start in 0..(w * h) as usize {
        if seen[start] || rgb[start * 3..start * 3 + 3] != c {
            continue;
        }
        n += 1;
        let mut stack = vec![start];
        seen[start] = true;
        while let Some(i) = stack.pop() {
            let (x, y) = ((i as u32 % w) as i64, (i as u32 / w) as i64);
            for (dx, dy) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
                let (nx, ny) = (x + dx, y + dy);
                if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                    continue;
                }
                let j = (ny as u32 * w + nx as u32) as usize;
                if !seen[j] && rgb[j * 3..j * 3 + 3] == c {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
    }
    n
}

/// Reads a glyph string back off the image: each font dot's centre is ink iff the font sets
/// it, for every candidate; exactly the declared answer must fit.
fn read_text(rgb: &[u8], w: u32, h: u32, candidates: &[String]) -> Vec<String> {
    candidates
        .iter()
        .filter(|t| {
            let (x0, y0, s) = image::text_layout(w, h, t.chars().count());
            t.chars().enumerate().all(|(k, ch)| {
                let g = image::glyph(ch).expect("glyph");
                (0..7).all(|row| {
                    (0..5).all(|col| {
                        let x = x0 + (k as i64 * 6 + col) * s + s / 2;
                        let y = y0 + row * s + s / 2;
                        let set = g[row as usize] & (0b10000 >> col) != 0;
                        (px(rgb, w, x, y) == INK) == set
                    })
                })
            })
        })
        .cloned()
        .collect()
}

#[test]
fn media_generation_is_deterministic_and_the_declared_answer_is_what_was_drawn() {
    let digits: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    let words: Vec<String> = image::WORDS.iter().map(|w| w.to_string()).collect();
    // Many salts at small sizes, a few at the largest (debug builds decode slowly).
    for (long, salts) in [(224, 10u64), (448, 4), (1344, 2)] {
        for salt in 0..salts {
            for task in ImageTask::ALL {
                let img = image::render(task, long, salt).unwrap();
                assert_eq!(img.png, image::render(task, long, salt).unwrap().png);
                let (w, h, rgb) = decode(&img.png);
                assert_eq!((w, h), (img.width, img.height));
                assert_eq!(w.max(h), long);
                match task {
                    ImageTask::Digit => {
                        assert_eq!(read_text(&rgb, w, h, &digits), vec![img.answer.clone()]);
                    }
                    ImageTask::Word => {
                        assert_eq!(read_text(&rgb, w, h, &words), vec![img.answer.clone()]);
                    }
                    ImageTask::Count => {
                        assert_eq!(regions(&rgb, w, h, RED).to_string(), img.answer);
                        assert!(regions(&rgb, w, h, BLUE) <= 3);
                    }
                    ImageTask::Side => {
                        assert_eq!(regions(&rgb, w, h, GREEN), 1);
                        let xs: Vec<f64> = (0..(w * h) as usize)
                            .filter(|&i| rgb[i * 3..i * 3 + 3] == GREEN)
                            .map(|i| (i as u32 % w) as f64)
                            .collect();
                        let cx = xs.iter().sum::<f64>() / xs.len() as f64;
                        let side = if cx < w as f64 / 2.0 { "left" } else { "right" };
                        assert_eq!(side, img.answer);
                    }
                }
            }
        }
    }
    // Salted: another salt, other bytes, even where the answer is the same.
    let a = image::render(ImageTask::Side, 224, 1).unwrap();
    let b = image::render(ImageTask::Side, 224, 2).unwrap();
    assert_ne!(a.png, b.png);

    // Tones: duration and count read back from the WAV.
    for (secs, salt) in [(5.0, 1), (15.0, 2), (30.0, 3)] {
        let c = audio::tones(secs, salt).unwrap();
        assert_eq!(c.wav, audio::tones(secs, salt).unwrap().wav);
        let r = hound::WavReader::new(std::io::Cursor::new(&c.wav)).unwrap();
        let spec = r.spec();
        let s: Vec<i16> = r.into_samples().map(Result::unwrap).collect();
        assert_eq!(s.len() as f64 / spec.sample_rate as f64, secs);
        assert_eq!(
            audio::count_bursts(&s, spec.sample_rate).to_string(),
            c.answer
        );
    }
    // Spoken digits where espeak-ng is installed (scripts/setup installs it).
    if let Some(espeak) = audio::find_espeak() {
        let dir = tempfile::tempdir().unwrap();
        let c = audio::spoken_digits(5.0, 7, &espeak, dir.path()).unwrap();
        assert_eq!(
            c.wav,
            audio::spoken_digits(5.0, 7, &espeak, dir.path())
                .unwrap()
                .wav
        );
        assert!(c.answer.len() == 3 && c.answer.chars().all(|ch| ch.is_ascii_digit()));
        let r = hound::WavReader::new(std::io::Cursor::new(&c.wav)).unwrap();
        let spec = r.spec();
        let s: Vec<i16> = r.into_samples().map(Result::unwrap).collect();
        assert!(s.len() as f64 / spec.sample_rate as f64 >= 5.0);
        // Speech is there: loud samples after the half-second lead, silence-level before it.
        let lead = spec.sample_rate as usize / 2;
        assert!(s[..lead].iter().all(|x| x.unsigned_abs() < 100));
        assert!(s[lead..].iter().any(|x| x.unsigned_abs() > 2000));
    }
}

/// A backend config with one launched llama-server on the tiny text model, with or without
/// its projector.
fn tiny_config(dir: &Path, with_mmproj: bool) -> PathBuf {
    let (model, mmproj) = tiny_vlm();
    let mut args = vec![
        "-m",
        "{model}",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "-c",
        "8192",
        "-np",
        "1",
        "-t",
        "1",
        "--jinja",
        "--no-webui",
    ];
    if with_mmproj {
        args.extend(["--mmproj", "{mmproj}"]);
    }
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    let text = format!(
        "default = \"vlm\"\n[backends.vlm]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{{port}}/v1\"\n[backends.vlm.launch]\ncommand = {:?}\nmodel = {:?}\nmmproj = {:?}\nargs = [{}]\nstartup_timeout_s = 120\n",
        llama_server().display().to_string(),
        model.display().to_string(),
        mmproj.display().to_string(),
        args.join(", ")
    );
    write(dir, "backends.toml", &text)
}

fn run(scenarios: &[PathBuf], config: &Path, out: &Path) -> (String, Option<i32>) {
    let o = edgebench()
        .args(["run", "--quiet", "--run-id", "mm"])
        .args(scenarios)
        .arg("--config")
        .arg(config)
        .arg("--out")
        .arg(out)
        .timeout(COMMAND_TIMEOUT)
        .output()
        .unwrap();
    (
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        o.status.code(),
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
fn tiny_vlm_runs_the_image_encoding_path_and_media_cost_is_positive() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path(), true);
    let scenario = write(
        dir.path(),
        "mm.toml",
        "kind = \"multimodal\"\nname = \"mm\"\nimage_sizes = [224, 896]\nimages_per_request = [1, 2]\naudio_seconds = []\nitems = 4\nmax_tokens = 4\n",
    );
    let out = dir.path().join("results");
    let (log, code) = run(&[scenario], &config, &out);
    assert_eq!(code, Some(0), "{log}");
    let run_dir = out.join("mm");
    let media = read_media(&run_dir.join("media.csv")).unwrap().rows;
    let mut by_case: BTreeMap<String, Vec<&MediaRow>> = BTreeMap::new();
    for r in &media {
        by_case.entry(r.case_id.clone()).or_default().push(r);
    }
    assert_eq!(
        by_case.keys().cloned().collect::<Vec<_>>(),
        vec!["img224_x1", "img224_x2", "img896_x1", "img896_x2"]
    );
    for (case, rows) in &by_case {
        assert_eq!(rows.len(), 4, "{case}");
        for r in rows {
            assert_eq!(r.error_category, None, "{case}: {:?}", r.error_message);
            assert!(r.correct.is_some() && !r.expected.is_empty(), "{case}");
            // The projector really ran: each image adds its 256 tokens (224 px / 14 px
            // patches, squared) to the prompt the model saw.
            let (m, t) = (
                r.prompt_tokens_media.unwrap(),
                r.prompt_tokens_text.unwrap(),
            );
            assert!(
                m >= t + 256 * r.images as u64,
                "{case}: {m} prompt tokens with media, {t} without"
            );
            let files: Vec<&str> = r.media_files.split(';').collect();
            assert_eq!(files.len(), r.images as usize);
            for f in files {
                let (w, _, _) = decode(&std::fs::read(run_dir.join(f)).unwrap());
                assert_eq!(Some(w), r.image_px);
            }
            assert!(r.media_cost_ms.is_some() && r.ttft_text_ms.is_some());
        }
        // TTFT with images exceeds TTFT without: checked on the median of the paired
        // differences (one pair can be disturbed by other work on a shared machine).
        let cost = median(rows.iter().filter_map(|r| r.media_cost_ms).collect());
        assert!(cost > 0.0, "{case}: median media cost {cost} ms");
    }
    // Every request has its samples.csv row: media under the case id, the twin under `_text`.
    let samples = read_samples(&run_dir.join("samples.csv")).unwrap().rows;
    assert_eq!(samples.len(), 2 * media.len());
    for case in by_case.keys() {
        let of = |id: &str| samples.iter().filter(|s| s.case_id == id).count();
        assert_eq!(of(case), 4);
        assert_eq!(of(&format!("{case}_text")), 4);
    }
    assert!(samples.iter().all(
        |s| s.error_category.is_none() || s.error_category.as_deref() == Some("empty_response")
    ));
    // The report draws TTFT against image size and shows inputs beside their answers.
    let rep = dir.path().join("report");
    let o = edgebench()
        .arg("report")
        .arg(&run_dir)
        .arg("--out")
        .arg(&rep)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(rep.join("ttft-vs-image-size.svg").exists());
    let html = std::fs::read_to_string(rep.join("report.html")).unwrap();
    assert!(html.contains("Multimodal: media cost and accuracy"));
    // (autoescaping writes the data URI's slashes as &#x2f;, which the browser decodes)
    assert!(html.contains("<img src=\"data:image"));
    let md = std::fs::read_to_string(rep.join("report.md")).unwrap();
    assert!(md.contains("| img896_x2 |"), "{md}");
    let summary = read_summary(&run_dir.join("summary.csv")).unwrap().rows;
    for case in by_case.keys() {
        for metric in ["ttft_ms", "ttft_text_ms", "media_cost_ms", "accuracy"] {
            assert!(
                summary
                    .iter()
                    .any(|r| &r.case_id == case && r.metric == metric),
                "{case} {metric}"
            );
        }
    }
}

#[test]
fn a_server_without_mmproj_gives_unsupported_modality_rows_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path(), false);
    let mm = write(
        dir.path(),
        "mm.toml",
        "kind = \"multimodal\"\nname = \"mm\"\nimage_sizes = [224]\nimages_per_request = [1]\naudio_seconds = [5]\naudio_task = \"tones\"\nitems = 2\nmax_tokens = 4\n",
    );
    // A speed scenario after it: its rows prove the run went on.
    let speed = write(
        dir.path(),
        "speed.toml",
        "kind = \"throughput\"\nname = \"speed\"\nprompt_tokens = [32]\nmax_tokens = [4]\nrepetitions = 2\n",
    );
    let out = dir.path().join("results");
    let (log, code) = run(&[mm, speed], &config, &out);
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("unsupported_modality"), "{log}");
    let run_dir = out.join("mm");
    let media = read_media(&run_dir.join("media.csv")).unwrap().rows;
    assert_eq!(media.len(), 4);
    for r in &media {
        assert_eq!(
            r.error_category.as_deref(),
            Some("unsupported_modality"),
            "{r:?}"
        );
        assert_eq!(r.correct, None);
        // The media the model would have seen is on disk all the same.
        assert!(run_dir.join(&r.media_files).exists());
    }
    let samples = read_samples(&run_dir.join("samples.csv")).unwrap().rows;
    let speed_rows: Vec<_> = samples.iter().filter(|s| s.scenario == "speed").collect();
    assert_eq!(speed_rows.len(), 2);
    assert!(speed_rows.iter().all(|s| s.error_category.is_none()));
    let manifest = edgebench::results::RunManifest::read(&run_dir).unwrap();
    assert_eq!(manifest.status, "complete");
}
