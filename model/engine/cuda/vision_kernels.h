// Launchers of the vision towers' CUDA kernels (vision_kernels.cu): LayerNorm, GELU, the 2-D
// rotary and Qwen2.5-VL's window permutation. Like kernels.h: each mirrors a CPU twin the CPU
// vision code itself runs (engine::vblocks in vision/vision_blocks.h), pointers are device
// pointers, `stream` is a cudaStream_t, activations are f32.
#pragma once

#include <cstdint>

namespace deskpilot::model::cuda::k {

// out[r, :] = (x[r, :] - mean) / sqrt(var + eps) · w + b for `rows` rows of width d, one block
// per row (mean and variance in f32, two passes; the twin uses double). In place allowed.
// Twin: vblocks::layer_norm.
void layer_norm(const float* x, const float* w, const float* b, std::int64_t rows, std::int64_t d,
                float eps, float* out, void* stream);

// out[i] = gelu(x[i]) for n values, the tanh approximation (gelu_pytorch_tanh, Qwen3-VL's
// vision MLP) when `tanh_form`, else the exact erf form (the mergers). In place allowed.
// Twins: vblocks::gelu_tanh, vblocks::gelu_erf.
void gelu(const float* x, std::int64_t n, bool tanh_form, float* out, void* stream);

// The vision 2-D rotary on qkv rows (3, heads, hd) of S patches: q and k rotated in place
// (rotate-half), v untouched. pos is [2][S] (patch rows, then columns:
// vblocks::rope2d_positions), inv_freq [hd/4] (vblocks::rope2d_inv_freq); frequency j < hd/4
// turns with the row, j + hd/4 with the column. hd must be a multiple of 4.
// Twin: vblocks::rope2d_tables + vblocks::rope2d_rotate.
void rope2d(float* qkv, std::int64_t S, std::int64_t heads, std::int64_t hd,
            const std::int32_t* pos, const float* inv_freq, void* stream);

// x[r, i] += b[i] for `rows` rows of width n (the linear layers' bias after a cuBLAS GEMM).
// Twin: the bias loop of vblocks::apply.
void add_bias(float* x, const float* b, std::int64_t rows, std::int64_t n, void* stream);

// out[i, :] = x[src[i], :] for i < n (into window order). Twin: vblocks::gather_rows.
void gather_rows(const float* x, const std::int32_t* src, std::int64_t n, std::int64_t width,
                 float* out, void* stream);
// out[dst[i], :] = x[i, :] for i < n (back to raster order). Twin: vblocks::scatter_rows.
void scatter_rows(const float* x, const std::int32_t* dst, std::int64_t n, std::int64_t width,
                  float* out, void* stream);

}  // namespace deskpilot::model::cuda::k
