#!/usr/bin/env bash
# Host emulation of model/engine/cuda/flash_attention.cu (no GPU, no nvcc): rewrites the kernel
# launch into prelude.h's emu_launch (one std::thread per CUDA thread, one block at a time),
# compiles with g++ and checks every case against a double-precision reference. A developer
# check for machines without a GPU; the gpu-labelled tests remain the real parity tests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$(mktemp -d)}
sed -e 's|#include <cuda_runtime.h>|#include "prelude.h"|' \
    -e 's|#include "model/engine/cuda/buffer.h"||' \
    -e 's|flash_k<D><<<grid, 32 \* kWarps, 0, static_cast<cudaStream_t>(stream)>>>(a);|(void)stream; emu_launch(grid, 32 * kWarps, [\&] { flash_k<D>(a); });|' \
    "$root/model/engine/cuda/flash_attention.cu" >"$out/fa_emu.cpp"
grep -q emu_launch "$out/fa_emu.cpp" || { echo "run.sh: the kernel launch line changed; update the sed" >&2; exit 1; }
cp "$here/prelude.h" "$out/"
g++ -std=c++20 -O1 -pthread -I"$root" -I"$out" "$here/flash_attention_check.cpp" -o "$out/check"
"$out/check"
