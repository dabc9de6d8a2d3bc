#!/usr/bin/env bash
# Time to first token and decode tokens/s of Deskpilot's CPU VLM against llama.cpp's multimodal
# path (libmtmd), in one run, on the same synthetic Qwen3-VL-MoE: the text part at Qwen3-VL-30B-
# A3B's real widths (LAYERS layers), its full real-width vision tower (27 blocks, DeepStack from
# 8, 16, 24), random bf16 weights, the real Qwen3 tokenizer; one 1920x1080 sandbox screenshot plus
# the UI-TARS-1.5 computer-use prompt (planner/prompt_templates.cpp), greedy, same thread count.
#   tools/bench/vlm_vs_llama_cpp.sh [BUILD_DIR]
# Needs: BUILD_DIR/bin/deskpilot and deskpilot-sandbox; llama.cpp with llama_vlm
# (tools/bench/build_llama_cpp.sh); python3 with numpy, pillow, torch and transformers (the
# checkpoint, llama.cpp's convert_hf_to_gguf.py, the check crops, the summary; dev tools only).
# Environment: LAYERS (4: llama.cpp's qwen3vlmoe graph needs more decoder layers than DeepStack
# levels, see bench/RESULTS.md), THREADS (1: on a small shared machine llama.cpp slows down at
# 2; see bench/RESULTS.md), PIXELS (empty: the full screenshot, 2040 image
# tokens; e.g. 262144 caps the image at that many pixels on both sides: Deskpilot --max-pixels,
# llama.cpp image_max_tokens = PIXELS/1024, the same smart_resize), ROUNDS (3; each runs Deskpilot
# then llama.cpp, one fresh process each, so load from other processes falls on both; figures
# are medians), DECODE (32 tokens at most, both stop at <|im_end|>), CACHE (where the checkpoint
# and GGUFs are kept, ~/.cache/deskpilot/vlm-bench), LLAMA (the llama.cpp cache of
# build_llama_cpp.sh, ~/.cache/deskpilot/llama.cpp), CHECK_MIN (0.99: the least logit correlation
# step 3 accepts), REFERENCE (1: step 3 also runs transformers on the check crop,
# tools/bench/vlm_transformers_logits.py, about 8 GB of memory and a minute).
# Before timing, both engines' logits after the prompt with a crop of the screenshot are compared
# (correlation >= 0.99, or the run stops; see step 3).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
layers=${LAYERS:-4} threads=${THREADS:-1} pixels=${PIXELS:-} rounds=${ROUNDS:-3} decode=${DECODE:-32}
check_min=${CHECK_MIN:-0.99}
cache=${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/deskpilot/vlm-bench}
llama=${LLAMA:-${XDG_CACHE_HOME:-$HOME/.cache}/deskpilot/llama.cpp}
ours=$build/bin/deskpilot sandbox=$build/bin/deskpilot-sandbox llama_vlm=$llama/build/bin/llama_vlm
for b in "$ours" "$sandbox"; do
  [[ -x "$b" ]] || { echo "error: $b not built (cmake --build build --target $(basename "$b"))" >&2; exit 1; }
done
[[ -x "$llama_vlm" ]] || { echo "error: $llama_vlm not found (run tools/bench/build_llama_cpp.sh)" >&2; exit 1; }
convert=$(ls "$llama"/llama_cpp_python-*/vendor/llama.cpp/convert_hf_to_gguf.py | sort -V | tail -1)

# 1. The checkpoint (Hugging Face layout) and its GGUFs, made once.
dir=$cache/qwen3-vl-moe-l$layers
if [[ ! -s $dir/model.safetensors ]]; then
  tok=$(mktemp -d)  # the committed copy of the real Qwen3 tokenizer
  gunzip -c "$root/tests/data/engine/qwen3-tokenizer/tokenizer.json.gz" >"$tok/tokenizer.json"
  cp "$root/tests/data/engine/qwen3-tokenizer/tokenizer_config.json" "$tok/"
  echo "writing the synthetic checkpoint to $dir ..." >&2
  python3 "$root/tools/bench/vlm_checkpoint.py" "$dir" --layers "$layers" --tokenizer "$tok" >&2
fi
for kind in model mmproj; do
  gguf=$dir/$kind-bf16.gguf
  if [[ ! -s $gguf || $gguf -ot $dir/model.safetensors ]]; then
    echo "converting $dir to $gguf with $convert ..." >&2
    flag=(); [[ $kind == mmproj ]] && flag=(--mmproj)
    (cd "$dir" && python3 "$convert" . "${flag[@]}" --outtype bf16 --outfile "$gguf.tmp" >/dev/null 2>"$gguf.log") ||
      { echo "error: conversion failed, see $gguf.log" >&2; exit 1; }
    mv "$gguf.tmp" "$gguf"
  fi
done

# 2. The screenshot, the prompt, the pixel cap.
log=$(mktemp -d)
QT_QPA_PLATFORM=offscreen "$sandbox" --seed 1 --geometry 1920x1080 --screenshot "$log/screen1.png" >/dev/null 2>&1
python3 - "$root/planner/prompt_templates.cpp" >"$log/prompt.txt" <<'PY'
import sys
s = open(sys.argv[1]).read()
key = '{PromptStyle::ui_tars_1_5, PromptKind::computer, R"DP('
t = s[s.index(key) + len(key):]
t = t[:t.index(')DP"')]
print(t.replace("{language}", "English")
       .replace("{instruction}", "Fill in the form with the name Ada Lovelace and submit it."), end="")
PY
# The prompt ends in a newline; "$(cat ...)" would drop it, and Deskpilot would then see
# "...submit it." where llama.cpp (which reads the file) and the transformers reference see
# "...submit it.\n": another token (Qwen's ".\n" is one) at the same count. Keep it.
prompt_text=$(cat "$log/prompt.txt"; printf x)
prompt_text=${prompt_text%x}
ours_cap=() llama_cap=()
if [[ -n $pixels ]]; then
  ours_cap=(--max-pixels "$pixels") llama_cap=(--image-max-tokens $((pixels / 1024)))
fi
run_ours() {  # IMAGE TAG [extra options]
  local img=$1 tag=$2; shift 2
  "$ours" generate --model-dir "$dir" --image "$img" --prompt "$prompt_text" \
    --threads "$threads" --max-new-tokens "$decode" "${ours_cap[@]}" "$@" \
    >"$log/$tag.out" 2>"$log/$tag.err" || { cat "$log/$tag.err" >&2; exit 1; }
  grep '^{"engine"' "$log/$tag.err" >>"$log/runs.jsonl"
}
run_llama() {
  local img=$1 tag=$2; shift 2
  "$llama_vlm" "$dir/model-bf16.gguf" "$dir/mmproj-bf16.gguf" "$img" "$log/prompt.txt" \
    --threads "$threads" --max-tokens "$decode" "${llama_cap[@]}" "$@" \
    >"$log/$tag.out" 2>"$log/$tag.err" || { cat "$log/$tag.err" >&2; exit 1; }
  grep '^{"engine"' "$log/$tag.err" >>"$log/runs.jsonl"
}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$log/machine"
# 3. The same model on both sides: the logits after the prompt must correlate >= 0.99 (bf16 on
# both sides, f16 KV cache in llama.cpp) for a 256x256 crop of the screenshot showing a list
# widget. Crops are a multiple of 32 pixels, so neither side resamples them (the two resizers
# differ: llama.cpp pads 1080 rows to 1088 where Deskpilot, like transformers, stretches). A
# control run of llama.cpp on another crop shows that the check sees the image; a third crop, an
# almost empty corner, is reported without a threshold (see bench/RESULTS.md).
python3 - "$log" <<'PY'
import sys
from PIL import Image
im = Image.open(f"{sys.argv[1]}/screen1.png").convert("RGB")
for name, x, y in (("check", 640, 32), ("control", 0, 704), ("plain", 0, 0)):
    im.crop((x, y, x + 256, y + 256)).save(f"{sys.argv[1]}/{name}.png")
PY
saved_ours=("${ours_cap[@]}") saved_llama=("${llama_cap[@]}")
ours_cap=() llama_cap=()
for crop in check plain; do
  run_ours "$log/$crop.png" ${crop}_ours --logits-out "$log/${crop}_ours.npy"
  run_llama "$log/$crop.png" ${crop}_llama --logits-out "$log/${crop}_llama.f32"
done
run_llama "$log/control.png" control --logits-out "$log/control.f32"
reference=()
if [[ ${REFERENCE:-0} == 1 ]]; then
  python3 - "$log/check.png" "$log/prompt.txt" >"$log/check_text.txt" <<'PY'
import sys
print("<|im_start|>user\n<|vision_start|>" + "<|image_pad|>" * 64 + "<|vision_end|>" + open(sys.argv[2]).read()
      + "<|im_end|>\n<|im_start|>assistant\n", end="")
PY
  "$ours" tokenize --tokenizer "$dir/tokenizer.json" <"$log/check_text.txt" >"$log/check_ids.json"
  python3 "$root/tools/bench/vlm_transformers_logits.py" "$dir" "$log/check.png" "$log/check_ids.json" \
    "$log/reference.f32" 2>"$log/reference.err" || { cat "$log/reference.err" >&2; exit 1; }
  reference=(0)
fi
ours_cap=("${saved_ours[@]}") llama_cap=("${saved_llama[@]}")
: >"$log/runs.jsonl"  # the check runs are not timed
python3 - "$log" "$check_min" "${reference[@]}" <<'PY'
import sys
import numpy as np
log = sys.argv[1]
ours = {k: np.load(f"{log}/{k}_ours.npy") for k in ("check", "plain")}
llama = {k: np.fromfile(f"{log}/{k}.f32", np.float32) for k in ("check_llama", "plain_llama", "control")}
a, b = ours["check"], llama["check_llama"]
corr = lambda x, y: np.corrcoef(x, y)[0, 1]
text = lambda k: open(f"{log}/{k}.out", encoding="utf-8", errors="replace").read().strip()[:50]
print(f"model check (256x256 crop with a list): logits after the prompt correlate {corr(a, b):.6f} "
      f"(max |diff| {np.abs(a - b).max():.3f} of max |logit| {np.abs(a).max():.3f}); top-5 "
      f"{np.argsort(-a)[:5].tolist()} vs {np.argsort(-b)[:5].tolist()}")
print(f"  control, llama.cpp on another crop: {corr(a, llama['control']):.6f}; "
      f"almost empty crop: {corr(ours['plain'], llama['plain_llama']):.6f}")
print(f"  greedy text: deskpilot {text('check_ours')!r}, llama.cpp {text('check_llama')!r}")
if len(sys.argv) > 3:
    ref = np.fromfile(f"{log}/reference.f32", np.float32)
    print(f"  transformers reference (text bf16, vision float32) correlates {corr(ref, a):.6f} with "
          f"Deskpilot, {corr(ref, b):.6f} with llama.cpp; top-5 {np.argsort(-ref)[:5].tolist()}")
if a.shape != b.shape or corr(a, b) < float(sys.argv[2]):
    sys.exit(f"error: the engines' logits correlate below {sys.argv[2]}: not the same model")
PY
# 4. Timed rounds on the whole screenshot. Before each run its engine's files are read once, so
# both find their weights in the page cache (the two copies need not fit in memory together);
# the process maps them afresh, so first-touch mapping costs fall inside both timings.
for r in $(seq "$rounds"); do
  echo "round $r/$rounds ($threads threads, ${pixels:-full-size} image) ..." >&2
  cat "$dir/model.safetensors" >/dev/null
  run_ours "$log/screen1.png" ours$r
  cat "$dir/model-bf16.gguf" "$dir/mmproj-bf16.gguf" >/dev/null
  run_llama "$log/screen1.png" llama$r
  if [[ $r == 1 ]]; then
    echo "  greedy text: deskpilot $(head -c 60 "$log/ours1.out" | tr '\n' ' '), llama.cpp $(head -c 60 "$log/llama1.out" | tr '\n' ' ')"
  fi
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$log/machine"

# 4. Medians and ratios.
python3 - "$log" <<'PY'
import json, statistics, sys
from pathlib import Path
log = Path(sys.argv[1])
runs = [json.loads(l) for l in (log / "runs.jsonl").read_text().splitlines()]
def figures(r):
    return {"TTFT ms": r["ttft_ms"], "preprocess ms": r["preprocess_ms"], "vision ms": r["vision_ms"],
            "prefill ms": r["prefill_ms"], "prefill tok/s": r["prompt_tokens"] / r["prefill_ms"] * 1e3,
            "decode tok/s": (r["completion_tokens"] - 1) / r["decode_ms"] * 1e3 if r["completion_tokens"] > 1 else float("nan")}
by = {e: [figures(r) for r in runs if r["engine"] == e] for e in ("deskpilot", "llama.cpp")}
first = {e: next(r for r in runs if r["engine"] == e) for e in by}
print((log / "machine").read_text().strip())
for e, r in first.items():
    print(f"{e}: {r['threads']} threads, {r['prompt_tokens']} prompt tokens ({r['image_tokens']} image), "
          f"{r['completion_tokens']} generated")
print("| figure | deskpilot | llama.cpp | deskpilot/llama.cpp | samples |")
print("|---|---|---|---|---|")
for k in by["deskpilot"][0]:
    a = statistics.median(x[k] for x in by["deskpilot"])
    b = statistics.median(x[k] for x in by["llama.cpp"])
    print(f"| {k} | {a:.1f} | {b:.1f} | {a / b:.2f}x | {len(by['deskpilot'])} / {len(by['llama.cpp'])} |")
print("(for ms rows a ratio below 1 means Deskpilot is faster; for tok/s rows above 1)")
for e in by:
    print(f"samples {e}: " + "; ".join(
        f"TTFT {x['TTFT ms']:.0f} vision {x['vision ms']:.0f} decode {x['decode tok/s']:.2f}" for x in by[e]))
PY
echo "logs: $log" >&2
