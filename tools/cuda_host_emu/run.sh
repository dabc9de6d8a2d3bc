#!/usr/bin/env bash
# Host emulation of model/engine/cuda/flash_attention.cu and vision_kernels.cu (no GPU, no nvcc):
# rewrites each kernel launch into prelude.h's emu_launch (one std::thread per CUDA thread, one
# block at a time), compiles with g++ and checks every case: flash attention against a
# double-precision reference, the vision kernels against their CPU twins (vision_blocks.cpp and cpu/ops.cpp,
# linked with --gc-sections so only the twins' code is needed). A developer check for machines
# without a GPU; the gpu-labelled tests remain the real parity tests.
# Then, when BUILD (default: build/) holds a built libdeskpilot_model.a, the whole CUDA vision
# tower (cuda/vision_model.cpp's host code over the emulated kernels, vision_tower_check.cpp)
# against the CPU tower on the tiny checkpoint.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$(mktemp -d)}
cp "$here/prelude.h" "$out/"
strip_cuda=(-e 's|#include <cuda_runtime.h>|#include "prelude.h"|'
            -e 's|#include "model/engine/cuda/buffer.h"||')

sed "${strip_cuda[@]}" \
    -e 's|flash_k<D><<<grid, 32 \* kWarps, 0, static_cast<cudaStream_t>(stream)>>>(a);|(void)stream; emu_launch(grid, 32 * kWarps, [\&] { flash_k<D>(a); });|' \
    "$root/model/engine/cuda/flash_attention.cu" >"$out/fa_emu.cpp"
grep -q emu_launch "$out/fa_emu.cpp" || { echo "run.sh: the flash_attention launch line changed; update the sed" >&2; exit 1; }

# vision_kernels.cu launches are all `name<<<grid, threads, 0, S(s)>>>(args);` on one line.
sed "${strip_cuda[@]}" \
    -e 's|\([A-Za-z_0-9]*\)<<<\(.*\), \([^,]*\), 0, S(s)>>>(\(.*\));|(void)s; emu_launch(\2, \3, [\&] { \1(\4); });|' \
    "$root/model/engine/cuda/vision_kernels.cu" >"$out/vk_emu.cpp"
if grep -q '<<<' "$out/vk_emu.cpp"; then
    echo "run.sh: a vision_kernels.cu launch no longer matches the sed" >&2; exit 1
fi

g++ -std=c++20 -O1 -pthread -I"$root" -I"$out" "$here/flash_attention_check.cpp" -o "$out/fa_check"
g++ -std=c++20 -O1 -pthread -ffunction-sections -fdata-sections -I"$root" -I"$out" \
    "$here/vision_kernels_check.cpp" "$root/model/engine/vision/vision_blocks.cpp" \
    "$root/model/engine/cpu/ops.cpp" \
    -Wl,--gc-sections -o "$out/vk_check"
status=0
"$out/fa_check" || status=1
"$out/vk_check" || status=1

lib=${BUILD:-$root/build}/lib
if [[ -f $lib/libdeskpilot_model.a ]]; then
    # One translation unit: the two kernel files' private warp_sum helpers must not collide.
    sed 's/warp_sum/vk_warp_sum/g' "$out/vk_emu.cpp" >"$out/vk_tower.cpp"
    sed -i 's|#include "vk_emu.cpp"|#include "vk_tower.cpp"|' "$out/vk_tower.cpp"
    cp "$here/cuda_runtime.h" "$out/"
    sed 's|#include "vk_emu.cpp"|#include "vk_tower.cpp"|' "$here/vision_tower_check.cpp" \
        >"$out/vision_tower_check.cpp"
    g++ -std=c++20 -O1 -pthread -I"$out" -I"$root" "$out/vision_tower_check.cpp" \
        "$lib/libdeskpilot_model.a" "$lib/libdeskpilot_vision.a" -lpcre2-8 -lutf8proc \
        -o "$out/tower_check"
    "$out/tower_check" "$root/tests/data/engine/qwen3_vl_moe_vision_tiny" "$out" || status=1
else
    echo "run.sh: no $lib/libdeskpilot_model.a: the tower check is skipped (set BUILD)"
fi
exit $status
