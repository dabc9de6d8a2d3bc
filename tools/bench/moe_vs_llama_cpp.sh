#!/usr/bin/env bash
# Prefill and decode tokens/s of Deskpilot's CPU decoder against llama.cpp, in one run, on the
# same synthetic Qwen3-MoE at real layer widths (bench_engine_moe_cpu's random bf16 checkpoint,
# converted bit for bit to a bf16 GGUF for llama.cpp's qwen3moe), at the same thread count.
#   tools/bench/moe_vs_llama_cpp.sh [LLAMA_BENCH] [BUILD_DIR]
# LLAMA_BENCH defaults to what tools/bench/build_llama_cpp.sh builds. Environment: LAYERS (2),
# THREADS ("2"; a list such as "1 2" measures each count), LLAMA_ARGS (extra llama-bench options,
# e.g. "--poll 0"), PROMPT (512), DECODE (64), DEPTHS ("0 512": decode after that many cached tokens),
# ROUNDS (3) and REPS (3): each round runs Deskpilot then llama.cpp, REPS times each, so load
# from other processes on a shared machine falls on both; figures are medians of all samples.
# Needs python3 with numpy and gguf (pip install gguf) for the conversion and the summary.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
llama_bench=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/deskpilot/llama.cpp/build/bin/llama-bench}
build=${2:-$root/build}
layers=${LAYERS:-2} thread_counts=${THREADS:-2} prompt=${PROMPT:-512} decode=${DECODE:-64}
depths=${DEPTHS:-"0 512"} rounds=${ROUNDS:-3} reps=${REPS:-3}
ours=$build/bin/bench_engine_moe_cpu
[[ -x "$ours" ]] || { echo "error: $ours not built (cmake --build build --target bench_engine_moe_cpu)" >&2; exit 1; }
[[ -x "$llama_bench" ]] || { echo "error: llama-bench not found at $llama_bench (run tools/bench/build_llama_cpp.sh)" >&2; exit 1; }

dir=$("$ours" --layers "$layers" --write-only 1)
gguf=$dir/model-bf16.gguf
if [[ ! -s "$gguf" || "$gguf" -ot "$dir/model.safetensors" ]]; then
  echo "converting $dir to $gguf ..." >&2
  python3 "$root/tools/bench/moe_to_gguf.py" "$dir" "$gguf.tmp" && mv "$gguf.tmp" "$gguf"
fi

log=$(mktemp -d)
# The same model on both sides: last-position logits of a short prompt must agree up to
# llama.cpp's bf16 activations and f16 KV cache (a near tie among the router's top-8 may pick
# another expert): correlation above 0.99. Dropping one of the two layers gives about 0.5.
llama_logits=$(dirname "$llama_bench")/llama_logits
if [[ -x "$llama_logits" ]]; then
  ids="1 2 3 4 5 6 7 8 100 1000 10000 31999"
  "$ours" --layers "$layers" --logits-ids "${ids// /,}" --logits-out "$log/ours.f32"
  # shellcheck disable=SC2086
  "$llama_logits" "$gguf" "$log/llama.f32" $ids 2>/dev/null
  python3 - "$log" <<'PY'
import sys
import numpy as np
a = np.fromfile(f"{sys.argv[1]}/ours.f32", np.float32)
b = np.fromfile(f"{sys.argv[1]}/llama.f32", np.float32)
top_a, top_b = np.argsort(-a)[:5], np.argsort(-b)[:5]
r = np.corrcoef(a, b)[0, 1]
print(f"model check: top-5 {top_a.tolist()} vs {top_b.tolist()}, correlation {r:.6f}, "
      f"max |diff| {np.abs(a - b).max():.4f} of max |logit| {np.abs(a).max():.3f}")
if a.shape != b.shape or r < 0.99:
    sys.exit("error: llama.cpp computes a different model from the GGUF (conversion bug?)")
PY
else
  echo "warning: $llama_logits not found (rebuild with tools/bench/build_llama_cpp.sh): model check skipped" >&2
fi
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$log/machine"
# Each process warms up before it measures (llama-bench: a full prompt run before ppN, and the
# ppN run or the depth prompt before tgN; ours: a pass of at least 256 tokens), so neither side
# pays first-touch page faults on the mapped weights, every expert included, while timed.
for r in $(seq "$rounds"); do
  for threads in $thread_counts; do
    echo "round $r/$rounds, $threads threads ..." >&2
    for d in $depths; do
      if [[ $d == 0 ]]; then p=$prompt; else p=0; fi
      "$ours" --layers "$layers" --threads "$threads" --prompt "$(( p > 0 ? p : 1 ))" \
        --decode "$decode" --depth "$d" --reps "$reps" >>"$log/ours.jsonl"
      # shellcheck disable=SC2086
      "$llama_bench" -m "$gguf" -t "$threads" -p "$p" -n "$decode" -d "$d" -r "$reps" \
        ${LLAMA_ARGS:-} -o jsonl 2>/dev/null >>"$log/llama.jsonl"
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$log/machine"
python3 - "$log" "$prompt" "$decode" <<'PY'
import json, statistics, sys
from pathlib import Path
log, prompt, decode = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rows = lambda f: [json.loads(l) for l in (log / f).read_text().splitlines() if l.startswith("{")]
ours, llama = {}, {}
for r in rows("ours.jsonl"):
    t = r["threads"]
    if r["prefill_tokens"] == prompt:
        ours.setdefault((t, f"pp{prompt}"), []).extend(r["prefill_samples"])
    ours.setdefault((t, f"tg{decode} @ d{r['decode_depth']}"), []).extend(r["decode_samples"])
for r in rows("llama.jsonl"):
    key = f"pp{r['n_prompt']}" if r["n_gen"] == 0 else f"tg{r['n_gen']} @ d{r['n_depth']}"
    llama.setdefault((r["n_threads"], key), []).extend(r["samples_ts"])
    build = f"{r.get('build_commit', '?')} ({r.get('build_number', '?')}), {r.get('cpu_info', '')}"
print((log / "machine").read_text().strip())
print(f"llama.cpp build: {build}")
print("| threads | test | deskpilot tok/s | llama.cpp tok/s | deskpilot/llama.cpp | samples |")
print("|---|---|---|---|---|---|")
nan = float("nan")
for (t, k), v in ours.items():
    a, b = statistics.median(v), statistics.median(llama.get((t, k), [nan]))
    n = f"{len(v)} / {len(llama.get((t, k), []))}"
    print(f"| {t} | {k} | {a:.2f} | {b:.2f} | {a / b:.2f}x | {n} |")
for (t, k), v in sorted({**ours, **llama}.items()):
    print(f"samples {t}t {k}: deskpilot {[round(x, 1) for x in ours.get((t, k), [])]}, "
          f"llama.cpp {[round(x, 1) for x in llama.get((t, k), [])]}")
PY
