#!/usr/bin/env bash
# edgebench pp512+tg128 in process; prints llama-bench-like jsonl
W=$(mktemp -d)
cat >$W/b.toml <<T
default = "inproc"
[backends.inproc]
kind = "llamacpp"
model = "/work/main/models/gemma-3-270m-q4_k_m.gguf"
threads = 2
T
cat >$W/s.toml <<T
name = "parity"
kind = "throughput"
mode = "pp_tg"
pp = [512]
tg = [128]
warmup = 1
repetitions = 5
T
"${EB:-/root/.cache/edgebench/target/release/edgebench}" run $W/s.toml --config $W/b.toml --out $W/runs --run-id r --quiet >/dev/null
python3 - $W/runs/r/summary.csv <<'PY'
import csv, sys, json
for row in csv.DictReader(open(sys.argv[1])):
    if row["metric"] == "test_tok_s":
        c=row["case_id"]; pp=c.startswith("pp"); n=int(c[2:])
        print(json.dumps({"n_prompt": n if pp else 0, "n_gen": 0 if pp else n, "avg_ts": float(row["mean"])}))
PY
rm -rf $W
