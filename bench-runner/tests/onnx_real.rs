//! The `onnx` backend on a real model: Qwen2.5-Coder 0.5B Instruct converted from the shipped
//! Q4_K_M GGUF by scripts/gguf-to-onnx (scripts/setup makes the fp32 and int4 builds). The
//! fp32 build is the GGUF's weights dequantised, so llama.cpp on the GGUF is its reference:
//! greedy text, token ids of its tokenizer, and tool calls through the real chat template.
//!
//! Skipped, with the reason printed, only when set-up was told not to convert
//! (`EDGEBENCH_ONNX_BUILDS=""`: no stamp file); a stamp without the model fails.
//! Cost on 2 busy cores: about 1.5–2.5 minutes for the three tests, after set-up's one-time
//! conversion (1–2.5 minutes, 3.1 GB).

use std::path::{Path, PathBuf};

use edgebench::backend::llamacpp::LlamaCppBackend;
use edgebench::backend::onnx::OnnxBackend;
use edgebench::backend::{BackendImpl, Config, Message, Prompt, Request};
use edgebench::results::items::read_items;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::common::*;

const CONVERTED: &str = "models/qwen2.5-coder-0.5b-onnx";

/// The converted build's folder, or `None` (with the reason printed) when set-up skipped it.
fn build(quant: &str) -> Option<PathBuf> {
    let root = repo_root().join(CONVERTED);
    if !root.join(".edgebench-stamp").is_file() {
        eprintln!(
            "SKIPPED: {} was not made (scripts/setup with EDGEBENCH_ONNX_BUILDS=\"\"); run scripts/setup to convert the GGUF",
            root.display()
        );
        return None;
    }
    let p = root.join(format!("qwen2.5-coder-0.5b-instruct-q4_k_m-{quant}"));
    assert!(
        p.join("model.onnx").is_file(),
        "{} is missing though set-up converted the model: run scripts/setup (EDGEBENCH_ONNX_BUILDS must include {quant})",
        p.display()
    );
    Some(p)
}

/// One onnx backend per build and the in-process llama.cpp engine on the GGUF; one thread each.
fn config(dir: &Path, builds: &[(&str, &Path)]) -> PathBuf {
    let mut text = format!(
        "default = \"llamacpp\"\n[backends.llamacpp]\nkind = \"llamacpp\"\nmodel = {:?}\nthreads = 1\nctx_size = 2048\n",
        qwen().display().to_string()
    );
    for (name, path) in builds {
        text.push_str(&format!(
            "[backends.{name}]\nkind = \"onnx\"\nmodel = {:?}\nintra_op_threads = 1\nctx_size = 2048\n",
            path.display().to_string()
        ));
    }
    write(dir, "backends.toml", &text)
}

/// Greedy tokens compared per prompt (12 agreed on all three when this was written; the
/// issue asks for 8, and each extra token is another chance of a near tie on other CPUs).
const GREEDY_TOKENS: u32 = 10;

fn greedy(prompt: Prompt, max_tokens: u32) -> Request {
    Request {
        prompt,
        max_tokens,
        temperature: 0.0,
        top_p: 1.0,
        seed: Some(1),
        ignore_eos: false,
        allow_prefix_cache: false,
        tools: Default::default(),
    }
}

fn prompts() -> Vec<Prompt> {
    vec![
        Prompt::Text("def fibonacci(n):".into()),
        Prompt::Text("The capital of France is".into()),
        // Qwen's default system message written out: without one, the Jinja template adds it
        // and the in-process llama.cpp engine's built-in ChatML does not. (With the system
        // message "You are a helpful assistant." the third token is a near tie, logits 0.001
        // apart: llama.cpp's quantised dot products and float32 may each pick either.)
        Prompt::Chat(vec![
            Message {
                role: "system".into(),
                content: "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
                    .into(),
            },
            Message {
                role: "user".into(),
                content: "Write a haiku about Rust.".into(),
            },
        ]),
    ]
}

#[test]
fn fp32_greedy_text_equals_llama_cpp_on_the_gguf() {
    let (Some(fp32), Some(int4)) = (build("fp32"), build("int4")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::load(&config(dir.path(), &[("fp32", &fp32), ("int4", &int4)])).unwrap();
    let pick = |n: &str| cfg.select(&[n.into()]).unwrap().remove(0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let llama = LlamaCppBackend::connect(&pick("llamacpp")).await.unwrap();
        let mut reference = Vec::new();
        for p in prompts() {
            let r = llama.generate(&greedy(p, GREEDY_TOKENS)).await;
            assert!(r.error.is_none(), "llama.cpp: {:?}", r.error);
            reference.push(r);
        }
        drop(llama);
        let mut onnx = OnnxBackend::connect(&pick("fp32")).await.unwrap();
        let facts = onnx.probe().await.unwrap();
        let q = facts.onnx.as_ref().unwrap().quantization.clone().unwrap();
        assert_eq!((q.format.as_str(), q.bits), ("fp32", None), "{q:?}");
        assert_eq!(onnx.facts().layout.vocab_size, Some(151_936));
        for (p, want) in prompts().into_iter().zip(&reference) {
            let got = onnx.generate(&greedy(p.clone(), GREEDY_TOKENS)).await;
            assert!(got.error.is_none(), "onnx: {:?}", got.error);
            let n = got.usage.as_ref().and_then(|u| u.completion_tokens);
            assert_eq!(n, Some(GREEDY_TOKENS.into()), "{p:?}");
            // The same tokens give the same text; the chat prompt also checks that the GGUF's
            // template renders the same under minijinja as in llama.cpp.
            assert_eq!(got.text, want.text, "{p:?}");
            assert_eq!(
                n,
                want.usage.as_ref().and_then(|u| u.completion_tokens),
                "{p:?}"
            );
        }
        // int4 (requantised from the dequantised Q4_K_M): measured, not required to agree.
        let fp32_ids: Vec<Vec<u32>> = {
            let mut v = Vec::new();
            for t in ["def fibonacci(n):", "The capital of France is"] {
                v.push(onnx.greedy_tokens(t, 12, true).await.unwrap());
            }
            v
        };
        drop(onnx);
        let mut int4 = OnnxBackend::connect(&pick("int4")).await.unwrap();
        let q = int4
            .probe()
            .await
            .unwrap()
            .onnx
            .unwrap()
            .quantization
            .unwrap();
        assert_eq!(
            (q.format.as_str(), q.bits, q.block_size),
            ("int4", Some(4), Some(32))
        );
        for (t, want) in ["def fibonacci(n):", "The capital of France is"]
            .iter()
            .zip(&fp32_ids)
        {
            let got = int4.greedy_tokens(t, 12, true).await.unwrap();
            let same = got.iter().zip(want).take_while(|(a, b)| a == b).count();
            eprintln!("int4 vs fp32 on {t:?}: the first {same} of 12 greedy tokens agree");
        }
    });
}

/// 1,000 strings from a seeded generator: code, prose, Unicode (CJK, emoji with joiners,
/// combining accents, right-to-left scripts), whitespace runs, numbers, contractions, and
/// the chat markers.
fn varied_strings(n: usize) -> Vec<String> {
    const PIECES: &[&str] = &[
        "def main():\n    return 0\n",
        "fn add(a: i32, b: i32) -> i32 { a + b }",
        "for (let i = 0; i < n; i++) {\n\tconsole.log(i);\n}",
        "if x != None and y >= 3:\r\n        pass",
        "SELECT * FROM t WHERE id = 42;",
        "<div class=\"a\">&amp;</div>",
        "The quick brown fox jumps over the lazy dog.",
        "I'm sure they'll say it's FINE, don't you THINK'S",
        "naïve café résumé",
        "nai\u{0308}ve cafe\u{0301}",
        "東京は日本の首都です。",
        "한국어 텍스트",
        "Привет, мир!",
        "مرحبا بالعالم",
        "שלום עולם",
        "हिन्दी पाठ",
        "👩‍👩‍👧‍👦 🇫🇷 👍🏽 ❤️",
        "∑ᵢ xᵢ² ≤ ∞ — “quotes” ‘single’ …",
        "<|im_start|>user\nhi<|im_end|>",
        "<tool_call>\n{\"name\": \"f\"}\n</tool_call>",
        "\u{00a0}\u{2003}\u{3000}",
        "😀😃😄",
        "0x1F 0b1010 1e-9 3.14159 -273.15",
        "1,234,567.89",
        "$$ %% ^^ && || ~~ `` \\\\",
    ];
    const SPACES: &[&str] = &[
        " ",
        "  ",
        "   ",
        "\t",
        "\n",
        "\n\n",
        "\r\n",
        " \n ",
        "\t\t\n",
        "    ",
        "",
        "\n\n\n   ",
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(20);
    (0..n)
        .map(|_| {
            let mut s = String::new();
            for _ in 0..rng.random_range(1..6) {
                match rng.random_range(0..4) {
                    0 | 1 => s.push_str(PIECES[rng.random_range(0..PIECES.len())]),
                    2 => {
                        let digits = rng.random_range(1..20);
                        for _ in 0..digits {
                            s.push(char::from(b'0' + rng.random_range(0..10u8)));
                        }
                    }
                    _ => {
                        // Random code points from a few blocks, ASCII punctuation included.
                        for _ in 0..rng.random_range(1..8) {
                            let c = match rng.random_range(0..4) {
                                0 => rng.random_range(0x21..0x7f),
                                1 => rng.random_range(0xa0..0x250),
                                2 => rng.random_range(0x4e00..0x4f00),
                                _ => rng.random_range(0x1f300..0x1f650),
                            };
                            s.extend(char::from_u32(c));
                        }
                    }
                }
                s.push_str(SPACES[rng.random_range(0..SPACES.len())]);
            }
            s
        })
        .collect()
}

#[test]
fn tokenizer_ids_equal_llama_cpp_on_1000_strings() {
    let Some(fp32) = build("fp32") else {
        return;
    };
    let tok = tokenizers::Tokenizer::from_file(fp32.join("tokenizer.json")).unwrap();
    let server = shared_qwen();
    let url = server.base_url().replace("/v1", "/tokenize");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let strings = varied_strings(1000);
    let mut mismatches = Vec::new();
    rt.block_on(async {
        for s in &strings {
            let body =
                serde_json::json!({"content": s, "add_special": false, "parse_special": true});
            let r: serde_json::Value = client
                .post(&url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let want: Vec<u32> = r["tokens"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_u64().unwrap() as u32)
                .collect();
            let got = tok.encode(s.as_str(), false).unwrap().get_ids().to_vec();
            if got != want {
                mismatches.push(format!("{s:?}\n  ours  {got:?}\n  llama {want:?}"));
            }
        }
    });
    assert!(
        mismatches.is_empty(),
        "{} of 1000 strings tokenize differently, e.g.\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(5)].join("\n")
    );
}

#[test]
fn tool_calls_reach_the_real_template() {
    let Some(int4) = build("int4") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &[("onnx", &int4)]);
    let keep = [
        "simple_weather_paris",
        "parallel_stock_2",
        "irrelevant_capital",
    ];
    let suite: String =
        std::fs::read_to_string(repo_root().join("scenarios/data/tool_suite.jsonl"))
            .unwrap()
            .lines()
            .filter(|l| {
                l.starts_with("{\"define\"")
                    || keep
                        .iter()
                        .any(|id| l.contains(&format!("\"id\": \"{id}\"")))
            })
            .map(|l| format!("{l}\n"))
            .collect();
    write(dir.path(), "suite.jsonl", &suite);
    let scenario = write(
        dir.path(),
        "tools.toml",
        "name = \"tools\"\nkind = \"tool_calls\"\nsuites = [\"suite.jsonl\"]\nmode = [\"native\"]\nmax_tokens = 64\n",
    );
    let out = dir.path().join("out");
    run_ok(&[
        "run",
        "--quiet",
        "--run-id",
        "onnx-tools",
        scenario.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--backend",
        "onnx",
        "--out",
        out.to_str().unwrap(),
    ]);
    let run = out.join("onnx-tools");
    let items = read_items(&run.join("items.csv")).unwrap().rows;
    assert_eq!(items.len(), 3, "{items:?}");
    assert!(items.iter().all(|r| r.error_message.is_none()), "{items:?}");
    // Qwen, shown the tools by its own template, answers the weather question with a call.
    let paris = items
        .iter()
        .find(|r| r.item_id == "simple_weather_paris")
        .unwrap();
    // (Without the tools in the template it has no function to call and answers in prose.)
    // This 0.5B model often writes the call as a bare JSON object instead of in the
    // template's <tool_call> tags, and llama-server --jinja then returns it as text too:
    // `call_as_plain_text` with a lenient pass is the same verdict llama-server gets.
    assert!(paris.calls.contains("get_weather"), "{paris:?}");
    assert!(paris.pass || paris.lenient_pass == Some(true), "{paris:?}");
    // run.json says which build ran.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    let q = &manifest["backends"][0]["onnx"]["quantization"];
    assert_eq!(
        (q["format"].as_str(), q["block_size"].as_u64()),
        (Some("int4"), Some(32)),
        "{q}"
    );
    assert_eq!(q["declared"]["format"], "int4", "{q}");
}
