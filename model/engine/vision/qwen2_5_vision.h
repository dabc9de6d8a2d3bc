// The Qwen2.5-VL vision tower on CPU (transformers' Qwen2_5_VisionTransformerPretrainedModel,
// UI-TARS-1.5's):
//   patches → Conv3d patch embedding (one GEMM, no bias; temporal slices pre-summed for a still
//   image) → merged patches (2×2 units) permuted into window order → blocks of
//     x += proj(attn(rope2d(qkv(rms1(x)))));  x += down(silu(gate(rms2 x)) · up(rms2 x))
//   where attention runs within each window (window_size px = window_size/patch/merge merged
//   patches a side; windows at the right and bottom edges are smaller when the merged grid is not
//   a multiple) except in the fullatt_block_indexes blocks, which see the whole image
//   → merger (RMSNorm per patch, 2×2 units as rows, fc1, GELU, fc2) → the inverse permutation,
//   so the merged tokens come out in raster order.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "model/engine/config.h"
#include "model/engine/vision/vision_blocks.h"
#include "model/engine/vision/vision_encoder.h"

namespace deskpilot::model::engine {

// transformers' get_vision_window_index for one image: `index` lists the merged patches
// (raster order over gh/merge × gw/merge) window by window, each window row-major; cu_seqlens
// are the window boundaries in patches (merge² per merged patch), starting at 0.
struct WindowLayout {
    std::vector<std::int64_t> index;
    std::vector<std::int64_t> cu_seqlens;
};
// `window`: merged patches per window side. Throws std::invalid_argument for sizes below 1.
WindowLayout window_layout(int gh, int gw, int merge, int window);
// The patches in window order: patch i of the permuted sequence is patch order[i] of the image
// (each merged patch's merge² patches stay together). The rows vblocks::gather_rows takes.
std::vector<std::int64_t> window_patch_order(const WindowLayout& w, int merge);

// What both Qwen2.5-VL towers (this CPU one and cuda::CudaQwen25Vision) do first with an image:
// check its pixel values against the tower (`cols` values a patch, a single frame whose grid is
// a multiple of `merge`; std::invalid_argument naming the mismatch) and lay out its windows
// (`window` merged patches a side).
struct WindowPlan {
    WindowLayout layout;
    std::vector<std::int64_t> order;  // window_patch_order(layout, merge)
};
WindowPlan window_plan(const PixelValues& px, std::int64_t cols, int merge, int window);

class Qwen25VisionModel : public VisionEncoder {
  public:
    // Throws ConfigError for another architecture or an unusable vision config, CheckpointError
    // naming a missing or misshapen tensor (under model.visual.* or visual.*).
    Qwen25VisionModel(const ModelConfig& config, std::shared_ptr<const Checkpoint> checkpoint,
                      cpu::ThreadPool& pool = cpu::ThreadPool::global());
    ~Qwen25VisionModel() override;

    // Trace names: "patch_embed" (layer -1, block order), "block" (layer = block index; rows in
    // window order, as transformers' blocks see them), "merged" (raster order).
    VisionFeatures encode(const PixelValues& pixels, const Trace& trace = {}) const override;

    struct Block;

  private:
    void block(const Block& b, float* x, std::int64_t S, const std::vector<float>& cos,
               const std::vector<float>& sin, std::span<const std::int64_t> segments) const;

    VisionConfig vc_;
    std::shared_ptr<const Checkpoint> checkpoint_;
    cpu::ThreadPool& pool_;
    int window_ = 0;  // merged patches per window side
    vblocks::PatchEmbed patch_;
    std::vector<float> inv_freq_;
    std::vector<Block> blocks_;
    std::vector<float> merger_norm_;
    vblocks::Linear merger_fc1_, merger_fc2_;
    // The activations of the last encode, kept for the next (see vblocks::Workspace); encode
    // holds scratch_mutex_ while it uses them.
    mutable std::mutex scratch_mutex_;
    mutable vblocks::Workspace scratch_, attention_scratch_;
};

}  // namespace deskpilot::model::engine
