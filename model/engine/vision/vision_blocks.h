// Blocks the Qwen vision towers share: their tensors (under model.visual.* or visual.*), linear
// layers with bias, the Conv3d patch embedding as one GEMM, the 2-D rotary tables, and
// bidirectional multi-head attention within segments (a whole image, or Qwen2.5-VL's windows).
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "model/engine/config.h"
#include "model/engine/cpu/linear.h"
#include "model/engine/cpu/thread_pool.h"
#include "model/engine/safetensors.h"
#include "model/engine/vision/preprocess.h"
#include "model/engine/vision/workspace.h"

namespace deskpilot::model::engine::vblocks {

struct Linear {
    cpu::WeightView w;
    std::vector<float> b;
};
// y = x·Wᵀ + b for `rows` rows.
void apply(const Linear& l, const float* x, std::int64_t rows, float* y, cpu::ThreadPool& pool);

std::vector<float> to_vec(const Tensor& t);

class VisionWeights {
  public:
    // Throws CheckpointError when there is no vision tower under either prefix.
    explicit VisionWeights(const Checkpoint& ck);
    Tensor need(const std::string& name, const Shape& shape) const;
    std::vector<float> vec(const std::string& name, std::int64_t n) const {
        return to_vec(need(name, {n}));
    }
    Linear linear(const std::string& name, std::int64_t out, std::int64_t in) const;

  private:
    const Checkpoint& ck_;
    std::string prefix_;
};

// LayerNorm over each of `rows` rows of width d, with weight and bias (mean and variance in
// double, two passes). The CUDA twin is cuda::k::layer_norm.
void layer_norm(const float* x, std::int64_t rows, std::int64_t d, const float* w, const float* b,
                double eps, float* out);

// The MLP activations (twins of cuda::k::gelu): tanh form (gelu_pytorch_tanh) and exact erf form.
inline float gelu_tanh(float x) {
    return 0.5f * x * (1.0f + std::tanh(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}
inline float gelu_erf(float x) {
    return 0.5f * x * (1.0f + std::erf(x * 0.7071067811865476f));
}

// The row-wise steps of a tower on a full screenshot (~10k rows) take tens of ms each on one
// thread, longer than a cancel may wait; these run them as pool jobs of a few ms (a StopScope
// stops between jobs), with the same arithmetic as the one-thread forms above.
void layer_norm(const float* x, std::int64_t rows, std::int64_t d, const float* w, const float* b,
                double eps, float* out, cpu::ThreadPool& pool);
// x[i] += y[i] for i < n.
void add_in_place(float* x, const float* y, std::int64_t n, cpu::ThreadPool& pool);
// x[i] = gelu(x[i]) for i < n, tanh or erf form.
void gelu_in_place(float* x, std::int64_t n, bool tanh_form, cpu::ThreadPool& pool);

// The Conv3d patch embedding as a GEMM. A still image repeats one frame, so
// Σ_t W[.., t, ..]·x == (Σ_t W[.., t, ..])·x: the summed weights halve the work.
class PatchEmbed {
  public:
    PatchEmbed() = default;
    // weight [hid, 3, tp, p, p]; bias [hid] or empty.
    PatchEmbed(std::vector<float> weight, std::vector<float> bias, std::int64_t hid, int tp, int p);
    // out [rows, hid], written whole. All of it runs as pool jobs (a StopScope stops between
    // them): a full screenshot's pixel values are ~50 MB to read.
    void run(const PixelValues& px, float* out, cpu::ThreadPool& pool) const;

  private:
    std::vector<float> full_, sum_, bias_;
    std::int64_t hid_ = 0;
    int tp_ = 0, p_ = 0;
};

// Row and column of patch i in the image, patches being in merge×merge block order.
void patch_rc(std::int64_t i, int gw, int merge, int& r, int& c);

// x [gh·gw, hid] += Qwen3-VL's learned positions: the side×side table [side², hid]
// bilinearly interpolated (align_corners) at each patch (merge×merge block order), in f32. The
// CPU tower adds it in place; the CUDA tower computes it here and uploads it. Runs as pool jobs.
void add_learned_positions(const float* table, int side, std::int64_t hid, int gh, int gw,
                           int merge, float* x, cpu::ThreadPool& pool = cpu::ThreadPool::global());

// cos/sin [patches, head_dim/2] for the patches `order` (indices in block order): the first
// head_dim/4 angles follow the patch row, the next head_dim/4 its column.
void rope2d_tables(std::span<const std::int64_t> order, int gw, int merge,
                   const std::vector<float>& inv_freq, std::vector<float>& cos,
                   std::vector<float>& sin);
// θ^(-2j/(head_dim/2)) for j < head_dim/4, in f32 as transformers computes it.
std::vector<float> rope2d_inv_freq(int head_dim, double theta);
// The rotary positions of the patches `order` as [2][patches] (rows, then columns): what the
// CUDA 2-D rotary (cuda::k::rope2d) reads instead of the tables.
std::vector<std::int32_t> rope2d_positions(std::span<const std::int64_t> order, int gw, int merge);
// Rotates q and k of one token's qkv row (3, heads, hd) by its cos/sin row [hd/2] from
// rope2d_tables (rotate-half); v is left alone. Both attention paths start with this.
void rope2d_rotate(float* qkv_row, std::int64_t heads, std::int64_t hd, const float* cos,
                   const float* sin);

// out[i, :] = x[src[i], :] for i < src.size() (Qwen2.5-VL's window order); twin of
// cuda::k::gather_rows. Pool jobs: a full screenshot's rows are ~50 MB to copy.
void gather_rows(const float* x, std::span<const std::int64_t> src, std::int64_t width, float* out,
                 cpu::ThreadPool& pool = cpu::ThreadPool::global());
// out[dst[i], :] = x[i, :] for i < dst.size(): the inverse of gather_rows by the same index;
// twin of cuda::k::scatter_rows.
void scatter_rows(const float* x, std::span<const std::int64_t> dst, std::int64_t width, float* out,
                  cpu::ThreadPool& pool = cpu::ThreadPool::global());

// qkv rows are (3, heads, hd) for S tokens: rotates q and k in place, then for each segment
// [seg[i], seg[i+1]) runs full softmax attention of its queries over its keys (scale hd^-½).
// out: [S, heads·hd], in blocks of query rows (pool jobs: a StopScope stops between them).
// Runs segment_attention_flash, or the reference when DESKPILOT_VISION_ATTN=reference (for
// benchmarks that interleave the two). `scratch`, when given, holds the flash path's key and
// value copies between calls (a tower passes its own; see Workspace).
void segment_attention(float* qkv, std::int64_t S, std::int64_t heads, std::int64_t hd,
                       const std::vector<float>& cos, const std::vector<float>& sin,
                       std::span<const std::int64_t> segments, float* out, cpu::ThreadPool& pool,
                       Workspace* scratch = nullptr);
// Tiled, online-softmax attention (flash_attention.cpp): per (head, 64 queries) pool job, key
// tiles of 4 vectors, vectorised exp; `isa` picks the AVX-512F / AVX2 / SSE copy. Its transposed
// keys and padded values live in `scratch` (slots 0 and 1), or in buffers of its own without.
void segment_attention_flash(float* qkv, std::int64_t S, std::int64_t heads, std::int64_t hd,
                             const std::vector<float>& cos, const std::vector<float>& sin,
                             std::span<const std::int64_t> segments, float* out,
                             cpu::ThreadPool& pool, cpu::Isa isa, Workspace* scratch = nullptr);
// The first implementation, kept as the parity reference: per head and segment an f32 QKᵀ
// GEMM in blocks of 256 queries, a three-pass softmax, then a second GEMM.
void segment_attention_reference(float* qkv, std::int64_t S, std::int64_t heads, std::int64_t hd,
                                 const std::vector<float>& cos, const std::vector<float>& sin,
                                 std::span<const std::int64_t> segments, float* out,
                                 cpu::ThreadPool& pool);

}  // namespace deskpilot::model::engine::vblocks
