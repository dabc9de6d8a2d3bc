#!/usr/bin/env bash
# Host emulation of model/engine/cuda/flash_attention.cu, flash_attention_mma.cu and
# vision_kernels.cu (no GPU, no nvcc): rewrites each kernel launch into prelude.h's emu_launch (one
# std::thread per CUDA thread, one block at a time; the tensor-core mma.sync emulated warp-wide in
# the layout mma.cuh documents), compiles with g++ and checks every case: both flash attention
# kernels against a double-precision reference, the vision kernels against their CPU twins (vision_blocks.cpp, cpu/ops.cpp and the pool,
# linked with --gc-sections so only the twins' code is needed). A developer check for machines
# without a GPU; the gpu-labelled tests remain the real parity tests.
# Then, when BUILD (default: build/) holds a built libdeskpilot_model.a, the whole CUDA vision
# tower (cuda/vision_model.cpp's host code over the emulated kernels, vision_tower_check.cpp)
# against the CPU tower on the tiny checkpoint, and the whole CUDA text decoder (text_model.cpp
# over emulated kernels.cu, gemv.cu and moe_grouped.cu too, text_model_check.cpp) against the CPU decoders of Qwen2.5-VL
# (tied and untied head) and Qwen3-VL-MoE, and the CUDA Qwen2.5-VL tower (vision_qwen2_5.cpp,
# vision_qwen2_5_check.cpp) against the CPU one.
# DESKPILOT_CUDA_FLASH=mma runs the towers and decoders on the tensor-core flash kernel.
# ONLY=REGEX runs only the checks whose names match (grep -E): flash, vision_kernels, tower,
# kv_cache (the KV cache kernels, f32 and bf16, and the decode step's device-KV-length forms
# against the host-past ones: kv_cache_check.cpp), qwen25_tower, text_qwen25,
# text_qwen25_bf16, text_qwen3, mem_limit and cancel (limits_check.cpp: DESKPILOT_CUDA_MEM_LIMIT
# and a cancel between layers/blocks, both architectures), fused_kernels and launches
# (fused_check.cpp: the fused epilogue kernels; launches per decode step fused vs unfused and with
# the decode-step CUDA graph replayed, and a step with programmatic dependent launch on, both
# architectures), graphs (graph_check.cpp: greedy decode
# with DESKPILOT_CUDA_GRAPHS on equal to off bit for bit, the step captured once and then
# replayed (a graph launch re-reads the pinned staging: cuda_runtime.h's copy node reads host
# memory when it runs), the errors of a replayed step, the captures/instantiations/updates/replays
# it took, both architectures), long_text and many_images (long_prompts_check.cpp, the paths of
# tests/model/engine/test_cuda_long_prompts.cpp at emulator sizes, both architectures: a long
# text prompt with bf16 and f32 KV, the capacity errors and two graph steps, captured then
# replayed; five images of
# different grids in one agent-conversation prefill through the towers and the decoder),
# bench_moe (bench/gpu/bench_cuda_moe.cpp at tiny shapes: its host and device grouping agree),
# moe_kernels and moe_model (moe_grouped_check.cpp: the MoE grouping and grouped products on the
# device against their twins, then the tiny Qwen3-VL-MoE decoder grouping on the device against
# host grouping and the CPU decoder, its grouped decode steps captured as a graph),
# synthetic (synthetic_tower_check.cpp: both towers with random weights at the tiny configs'
# shapes, their shapes, finite values and seeds, then bench/gpu/agent_step.h's tower → prefill →
# decode step with the synthetic decoder, as bench_cuda_prefill runs it; about 2 and 5.5 minutes).
# LONG_TOKENS=N sets the text prompt's length, default 256 (5 split-K splits; one prefill takes
# about 80 s for Qwen2.5-VL and 6-9 min for Qwen3-VL-MoE on one shared core: the emulator starts
# a thread per CUDA thread); 2011 reaches the most splits (32) and runs far longer. many_images
# takes about 2 and 4 minutes. e.g. ONLY=text_qwen25$ for one
# decoder check (the full run takes about 15 minutes on 2 busy cores).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$(mktemp -d)}
want() { [[ -z ${ONLY:-} ]] || grep -qE "$ONLY" <<<"$1"; }
cp "$here/prelude.h" "$out/"
strip_cuda=(-e 's|#include <cuda_runtime.h>|#include "prelude.h"|'
            -e 's|#include "model/engine/cuda/buffer.h"||')

sed "${strip_cuda[@]}" \
    -e 's|flash_k<D, T><<<grid, 32 \* kWarps, 0, static_cast<cudaStream_t>(stream)>>>(a);|(void)stream; emu_launch(grid, 32 * kWarps, [\&] { flash_k<D, T>(a); });|' \
    "$root/model/engine/cuda/flash_attention.cu" >"$out/fa_emu.cpp"
grep -q emu_launch "$out/fa_emu.cpp" || { echo "run.sh: the flash_attention launch line changed; update the sed" >&2; exit 1; }
mma_launch='s|flash_mma_k<D, T><<<grid, 32 \* kMmaWarps, 0, static_cast<cudaStream_t>(stream)>>>(a);|(void)stream; emu_launch(grid, 32 * kMmaWarps, [=] { flash_mma_k<D, T>(a); });|'
sed "${strip_cuda[@]}" -e "$mma_launch" "$root/model/engine/cuda/flash_attention_mma.cu" >"$out/fam_emu.cpp"
grep -q emu_launch "$out/fam_emu.cpp" || { echo "run.sh: the flash_attention_mma launch line changed; update the sed" >&2; exit 1; }

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
    "$root/model/engine/cpu/ops.cpp" "$root/model/engine/cpu/thread_pool.cpp" \
    -Wl,--gc-sections -o "$out/vk_check"
status=0
if want flash; then "$out/fa_check" || status=1; fi
if want vision_kernels; then "$out/vk_check" || status=1; fi

lib=${BUILD:-$root/build}/lib
if [[ -f $lib/libdeskpilot_model.a ]]; then
    # One translation unit including fa_emu.cpp and vk_emu.cpp: their shared helpers come from
    # model/engine/cuda/launch_util.cuh, included once.
    cp "$here/cuda_runtime.h" "$here/engine_standins.h" "$out/"
    g++ -std=c++20 -O1 -pthread -I"$out" -I"$root" "$here/vision_tower_check.cpp" \
        "$lib/libdeskpilot_model.a" "$lib/libdeskpilot_vision.a" -lpcre2-8 -lutf8proc \
        -o "$out/tower_check"
    if want tower; then
        "$out/tower_check" "$root/tests/data/engine/qwen3_vl_moe_vision_tiny" "$out" || status=1
    fi

    # The text decoder (CudaTextModel's host code) over all four kernel files, each its own
    # object (prelude.h's globals are inline), with the engine's own CudaError (EMU_WITH_ENGINE).
    # kernels.cu has launches over several lines: perl rewrites them as one match each. The body
    # captures by value ([=]): a launch recorded into a stream capture keeps its arguments.
    launch='s/(\w+)<<<(.*?),\s*([^,]+?),\s*0,\s*S\(s\)>>>\((.*?)\);/(void)s; emu_launch($2, $3, [=] { $1($4); });/gs'
    perl -0pe "$launch" "$root/model/engine/cuda/kernels.cu" >"$out/k_eng.cpp"
    perl -0pe "$launch" "$root/model/engine/cuda/vision_kernels.cu" >"$out/vk_eng.cpp"
    perl -0pe "$launch" "$root/model/engine/cuda/gemv.cu" >"$out/gv_eng.cpp"
    perl -0pe "$launch" "$root/model/engine/cuda/moe_grouped.cu" >"$out/mg_eng.cpp"
    sed 's|flash_k<D, T><<<grid, 32 \* kWarps, 0, static_cast<cudaStream_t>(stream)>>>(a);|(void)stream; emu_launch(grid, 32 * kWarps, [=] { flash_k<D, T>(a); });|' \
        "$root/model/engine/cuda/flash_attention.cu" >"$out/fa_eng.cpp"
    sed -e "$mma_launch" "$root/model/engine/cuda/flash_attention_mma.cu" >"$out/fam_eng.cpp"
    if grep -q '<<<' "$out/k_eng.cpp" "$out/vk_eng.cpp" "$out/fa_eng.cpp" "$out/gv_eng.cpp" \
        "$out/fam_eng.cpp" "$out/mg_eng.cpp"; then
        echo "run.sh: a kernel launch no longer matches the rewrite" >&2; exit 1
    fi
    objs=()
    for src in k_eng vk_eng fa_eng fam_eng gv_eng mg_eng; do
        g++ -std=c++20 -O1 -pthread -DEMU_WITH_ENGINE -I"$out" -I"$root" -c "$out/$src.cpp" \
            -o "$out/$src.o"
        objs+=("$out/$src.o")
    done
    for src in text_model text_weights text_decoder vision_model vision_qwen2_5 graph \
        random_weights vision_synthetic vl_model_device; do
        g++ -std=c++20 -O1 -pthread -DEMU_WITH_ENGINE -I"$out" -I"$root" -c \
            "$root/model/engine/cuda/$src.cpp" -o "$out/$src.o"
        objs+=("$out/$src.o")
    done
    g++ -std=c++20 -O1 -pthread -I"$out" -I"$root" "$here/text_model_check.cpp" "${objs[@]}" \
        "$lib/libdeskpilot_model.a" "$lib/libdeskpilot_vision.a" -lpcre2-8 -lutf8proc \
        -o "$out/text_check"
    g++ -std=c++20 -O1 -pthread -I"$out" -I"$root" "$here/kv_cache_check.cpp" "$out/k_eng.o" \
        "$out/fa_eng.o" "$out/fam_eng.o" "$lib/libdeskpilot_model.a" -o "$out/kv_check"
    if want kv_cache; then "$out/kv_check" || status=1; fi
    g++ -std=c++20 -O1 -pthread -I"$out" -I"$root" "$here/vision_qwen2_5_check.cpp" \
        "$out/vision_qwen2_5.o" "$out/k_eng.o" "$out/vk_eng.o" "$out/fa_eng.o" "$out/fam_eng.o" \
        "$lib/libdeskpilot_model.a" "$lib/libdeskpilot_vision.a" -lpcre2-8 -lutf8proc \
        -o "$out/qwen25_tower_check"
    if want qwen25_tower; then
        "$out/qwen25_tower_check" "$root/tests/data/engine/qwen2_5_vl_tiny" "$out" || status=1
    fi
    # DESKPILOT_CUDA_MEM_LIMIT and cancelling mid-pass, on both architectures' decoder and tower.
    g++ -std=c++20 -O1 -pthread -I"$out" -I"$root" "$here/limits_check.cpp" "${objs[@]}" \
        "$lib/libdeskpilot_model.a" "$lib/libdeskpilot_vision.a" -lpcre2-8 -lutf8proc \
        -o "$out/limits_check"
    # The decoder's fused epilogues: the kernels against a double reference and their unfused
    # twins, then launches per decode step fused vs DESKPILOT_CUDA_FUSED=0 (both architectures).
    g++ -std=c++20 -O1 -pthread -I"$out" -I"$root" "$here/fused_check.cpp" "${objs[@]}" \
        "$lib/libdeskpilot_model.a" "$lib/libdeskpilot_vision.a" -lpcre2-8 -lutf8proc \
        -o "$out/fused_check"
    # The MoE layer grouped on the device: its kernels, then the decoder against host grouping.
    g++ -std=c++20 -O1 -pthread -I"$out" -I"$root" "$here/moe_grouped_check.cpp" "${objs[@]}" \
        "$lib/libdeskpilot_model.a" "$lib/libdeskpilot_vision.a" -lpcre2-8 -lutf8proc \
        -o "$out/moe_grouped_check"
    if want moe_kernels; then "$out/moe_grouped_check" kernels || status=1; fi
    if want moe_model; then
        "$out/moe_grouped_check" model "$root/tests/data/engine/qwen3_vl_moe_vision_tiny" "$out" \
            || status=1
    fi
    # bench_cuda_moe's two MoE layers at tiny shapes (its output comparison is its exit status).
    g++ -std=c++20 -O1 -pthread -I"$out" -I"$root" "$here/bench_moe_check.cpp" "$out/k_eng.o" \
        "$out/mg_eng.o" "$lib/libdeskpilot_model.a" -o "$out/bench_moe_check"
    if want bench_moe; then
        for layout in in_out out_in; do
            "$out/bench_moe_check" --tokens 70 --experts 6 --top 2 --hidden 64 --width 48 \
                --repeats 1 --layout $layout || status=1
        done
    fi
    # The decode step as a CUDA graph (stream capture emulated: cuda_runtime.h) against eager steps.
    g++ -std=c++20 -O1 -pthread -I"$out" -I"$root" "$here/graph_check.cpp" "${objs[@]}" \
        "$lib/libdeskpilot_model.a" "$lib/libdeskpilot_vision.a" -lpcre2-8 -lutf8proc \
        -o "$out/graph_check"
    # Long text and many images (test_cuda_long_prompts.cpp's paths at emulator sizes).
    g++ -std=c++20 -O1 -pthread -I"$out" -I"$root" "$here/long_prompts_check.cpp" "${objs[@]}" \
        "$lib/libdeskpilot_model.a" "$lib/libdeskpilot_planner.a" "$lib/libdeskpilot_vision.a" \
        -lpcre2-8 -lutf8proc -o "$out/long_prompts_check"
    for mode in long_text many_images; do
        if want $mode; then
            for tiny in qwen2_5_vl_tiny qwen3_vl_moe_vision_tiny; do
                if [[ $mode == long_text ]]; then
                    "$out/long_prompts_check" long_text "$root/tests/data/engine/$tiny" "$out" \
                        "${LONG_TOKENS:-256}" || status=1
                else
                    "$out/long_prompts_check" many_images "$root/tests/data/engine/$tiny" "$out" \
                        || status=1
                fi
            done
        fi
    done
    # The synthetic towers and bench_cuda_prefill's step (random weights, tiny shapes).
    g++ -std=c++20 -O1 -pthread -I"$out" -I"$root" "$here/synthetic_tower_check.cpp" "${objs[@]}" \
        "$lib/libdeskpilot_model.a" "$lib/libdeskpilot_planner.a" "$lib/libdeskpilot_vision.a" \
        -lpcre2-8 -lutf8proc -o "$out/synthetic_check"
    if want synthetic; then
        for tiny in qwen3_vl_moe_vision_tiny qwen2_5_vl_tiny; do
            "$out/synthetic_check" "$root/tests/data/engine/$tiny" || status=1
        done
    fi
    if want graphs; then
        "$out/graph_check" refusals || status=1
        for tiny in qwen2_5_vl_tiny qwen3_vl_moe_vision_tiny; do
            "$out/graph_check" decode "$root/tests/data/engine/$tiny" "$out" || status=1
        done
    fi
    if want fused_kernels; then "$out/fused_check" kernels || status=1; fi
    if want launches; then
        for tiny in qwen2_5_vl_tiny qwen3_vl_moe_vision_tiny; do
            "$out/fused_check" launches "$root/tests/data/engine/$tiny" "$out" || status=1
        done
    fi
    for mode in mem_limit cancel; do
        if want $mode; then
            for tiny in qwen2_5_vl_tiny qwen3_vl_moe_vision_tiny; do
                "$out/limits_check" $mode "$root/tests/data/engine/$tiny" || status=1
            done
        fi
    done
    if want text_qwen25; then
        echo "text decoder, Qwen2.5-VL (tied head):"
        "$out/text_check" "$root/tests/data/engine/qwen2_5_vl_tiny" 10 14 "$out" || status=1
    fi
    if want text_qwen25_bf16; then
        echo "text decoder, Qwen2.5-VL (bf16, untied head, flat config):"
        mkdir -p "$out/bf16"
        cp "$root/tests/data/engine/qwen2_5_vl_tiny/golden.safetensors" "$out/bf16/"
        cp "$root/tests/data/engine/qwen2_5_vl_tiny/bf16/"* "$out/bf16/"
        "$out/text_check" "$out/bf16" 10 14 "$out/bf16" || status=1
    fi
    if want text_qwen3; then
        echo "text decoder, Qwen3-VL-MoE (q/k norm, MoE, DeepStack):"
        "$out/text_check" "$root/tests/data/engine/qwen3_vl_moe_vision_tiny" 4 6 "$out" || status=1
    fi
else
    echo "run.sh: no $lib/libdeskpilot_model.a: the tower and decoder checks are skipped (set BUILD)"
fi
exit $status
