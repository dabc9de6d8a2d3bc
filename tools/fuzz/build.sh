#!/usr/bin/env bash
# Builds and runs the libFuzzer target for the safetensors header parser with clang, ASan and
# UBSan, independent of the project's compiler choice.
#   tools/fuzz/build.sh [seconds]     (default 60; new corpus entries land in build-fuzz/corpus)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/build-fuzz"
mkdir -p "$out/corpus"
clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -I"$root" \
  "$root/tools/fuzz/safetensors_header_fuzzer.cpp" \
  "$root/model/engine/safetensors.cpp" "$root/model/engine/tensor.cpp" \
  -o "$out/safetensors_header_fuzzer"
"$out/safetensors_header_fuzzer" -max_total_time="${1:-60}" -max_len=4096 \
  "$out/corpus" "$root/tests/data/engine/fuzz/safetensors"
