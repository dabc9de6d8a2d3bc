#!/usr/bin/env bash
# Tokenizer throughput: Deskpilot's C++ tokenizer against the `tokenizers` library (Python
# bindings, single-threaded encode/decode loops) on the same corpus, in one run; prints ratios.
#   tools/bench/tokenizer_vs_tokenizers.sh [build-dir] [repeats]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
repeats=${2:-20}
tok=$root/tests/data/engine/qwen3-tokenizer/tokenizer.json.gz
corpus=$root/tests/data/engine/tokenizer/golden.json
ours=$("$build/bin/bench_engine_tokenizer" "$tok" "$corpus" "$repeats")
base=$(python3 "$root/tools/bench/tokenizers_baseline.py" "$tok" "$corpus" "$repeats")
echo "$ours"
echo "$base"
python3 - "$ours" "$base" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for k in ("encode_mb_s", "decode_mb_s"):
    print(f"{k}: deskpilot/tokenizers = {a[k] / b[k]:.2f}x")
PY
