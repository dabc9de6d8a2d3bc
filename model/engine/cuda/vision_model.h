// The Qwen3-VL vision tower on one CUDA GPU: the recipe of engine::Qwen3VisionModel
// (vision/qwen3_vision.h) with its weights uploaded once as bf16 (norms and biases f32), one
// stream, cuBLAS GEMMs (bf16 in, fp32 accumulate) and the kernels of cuda/vision_kernels.h:
//   pixels → patch embedding (one GEMM over the full Conv3d weight) + learned positions
//   (interpolated on the host by vblocks::add_learned_positions, uploaded) → blocks of
//     x += proj(flash_attention_segments(rope2d(qkv(LN1(x)))));  x += fc2(gelu(fc1(LN2(x))))
//   over the whole image → mergers (LN before or after the 2×2 shuffle, fc1, GELU erf, fc2).
// VlModel::replace_vision puts it under either decoder; NativeVlm does so with device "cuda".
// In a build without CUDA the constructor throws CudaError (cuda/vision_model_none.cpp).
#pragma once

#include <cstdint>
#include <memory>

#include "model/engine/config.h"
#include "model/engine/cuda/device.h"
#include "model/engine/safetensors.h"
#include "model/engine/vision/vision_encoder.h"

namespace deskpilot::model::cuda {

namespace vision_tower {
class TowerWeights;  // cuda/vision_common.h
}

class CudaQwen3Vision : public engine::VisionEncoder {
  public:
    // Uploads the tower of `checkpoint` (under model.visual.* or visual.*) to GPU `device`.
    // Throws ConfigError for a config without a Qwen3-VL vision tower, CheckpointError naming a
    // missing or misshapen tensor, CudaError for no device, out of memory (naming the tensor) or
    // a head dim the flash kernel lacks.
    CudaQwen3Vision(const engine::ModelConfig& config, const engine::Checkpoint& checkpoint,
                    int device = 0);
    // The same tower with its tensors from `weights` (a checkpoint's, or random ones); throws as
    // above.
    CudaQwen3Vision(const engine::ModelConfig& config, vision_tower::TowerWeights& weights,
                    int device = 0);
    // Random bf16 weights at the config's shapes generated on the device (norms ones, biases
    // zeros, the position table random: cuda/random_weights.h), for benchmarks at real shapes
    // without a checkpoint (cuda/vision_synthetic.cpp). The same seed gives the same weights.
    static std::unique_ptr<CudaQwen3Vision> synthetic(const engine::ModelConfig& config,
                                                      std::uint64_t seed, int device = 0);
    ~CudaQwen3Vision() override;
    CudaQwen3Vision(const CudaQwen3Vision&) = delete;
    CudaQwen3Vision& operator=(const CudaQwen3Vision&) = delete;

    // The same features as Qwen3VisionModel::encode (merged and DeepStack, host memory). Throws
    // std::invalid_argument when the pixel values do not fit the config, and for a `trace` (the
    // GPU tower reports no intermediates). Not cancellable mid-pass (one image is milliseconds).
    // One image at a time: the device scratch is shared (NativeVlm serialises its calls).
    engine::VisionFeatures encode(const engine::PixelValues& pixels,
                                  const engine::Trace& trace = {}) const override;

    struct Impl;

  private:
    void build(const engine::ModelConfig& config, vision_tower::TowerWeights& weights, int device);
    std::unique_ptr<Impl> impl_;
};

}  // namespace deskpilot::model::cuda
