// The Qwen3-VL vision tower on CPU (transformers' Qwen3VLVisionModel / Qwen3VLMoeVisionModel):
//   patches → Conv3d patch embedding (one GEMM; for a still image the two temporal weight
//   slices are pre-summed, halving the work) + learned positions bilinearly interpolated
//   (align_corners) from the square table → blocks of
//     x += proj(attn(rope2d(qkv(LN1(x)))));  x += fc2(gelu_tanh(fc1(LN2(x))))
//   with full bidirectional attention over each image → 2×2 merger (LN, fc1, GELU, fc2).
// DeepStack: after each configured block, a merger with the norm after the 2×2 shuffle produces
// features the text decoder adds to its hidden states at the image positions.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "model/engine/config.h"
#include "model/engine/cpu/linear.h"
#include "model/engine/cpu/thread_pool.h"
#include "model/engine/safetensors.h"
#include "model/engine/vision/preprocess.h"
#include "model/engine/vision/vision_blocks.h"
#include "model/engine/vision/vision_encoder.h"

namespace deskpilot::model::engine {

class Qwen3VisionModel : public VisionEncoder {
  public:
    // Throws ConfigError without a vision config, CheckpointError naming a missing or misshapen
    // tensor (looked up under model.visual.* or visual.*).
    Qwen3VisionModel(const ModelConfig& config, std::shared_ptr<const Checkpoint> checkpoint,
                     cpu::ThreadPool& pool = cpu::ThreadPool::global());
    ~Qwen3VisionModel() override;

    // One image (grid t·h·w patches). Trace names: "patch_embed", "pos_embed" (layer -1),
    // "block" (layer = block index), "deepstack" (layer = DeepStack index), "merged".
    // Throws std::invalid_argument when the pixel values do not fit the config.
    VisionFeatures encode(const PixelValues& pixels, const Trace& trace = {}) const override;

    struct Block;
    struct Merger;

  private:
    void add_positions(int gh, int gw, float* x) const;
    void block(const Block& b, float* x, std::int64_t S, const std::vector<float>& cos,
               const std::vector<float>& sin) const;
    std::vector<float> merge(const Merger& m, const float* x, std::int64_t S) const;

    VisionConfig vc_;
    std::shared_ptr<const Checkpoint> checkpoint_;
    cpu::ThreadPool& pool_;
    vblocks::PatchEmbed patch_;
    Tensor pos_table_;  // [side², hid]
    int side_ = 0;
    std::vector<float> inv_freq_;  // head_dim/4 frequencies, shared by the h and w halves
    std::vector<Block> blocks_;
    std::vector<Merger> mergers_;  // [0]: final merger; [1 + k]: DeepStack k
    // The activations of the last encode, kept for the next (see vblocks::Workspace); encode
    // holds scratch_mutex_ while it uses them.
    mutable std::mutex scratch_mutex_;
    mutable vblocks::Workspace scratch_, attention_scratch_;
};

}  // namespace deskpilot::model::engine
