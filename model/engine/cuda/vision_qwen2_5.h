// The Qwen2.5-VL vision tower (UI-TARS-1.5's) on one CUDA GPU: the recipe of
// engine::Qwen25VisionModel (vision/qwen2_5_vision.h) with its weights uploaded once as bf16
// (norms and biases f32), one stream, cuBLAS GEMMs (bf16 in, fp32 accumulate) and the kernels of
// cuda/kernels.h and cuda/vision_kernels.h:
//   pixels → patch embedding (one GEMM over the full Conv3d weight, no bias) → rows gathered into
//   window order (k::gather_rows) → blocks of
//     x += proj(flash_attention_segments(rope2d(qkv(rms1 x))));  x += down(silu(gate h)·up h)
//   with h = rms2 x, gate and up one GEMM over their packed rows; attention within the windows
//   except in the fullatt_block_indexes blocks (the whole image) → merger (RMSNorm, 2×2 rows as
//   one, fc1, GELU erf, fc2) → rows scattered back to raster order (k::scatter_rows).
// The window layout and rotary positions come from the CPU tower's own functions
// (engine::window_layout, vblocks::rope2d_positions), computed on the host per image.
// In a build without CUDA the constructor throws CudaError (cuda/vision_qwen2_5_none.cpp).
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

class CudaQwen25Vision : public engine::VisionEncoder {
  public:
    // Uploads the tower of `checkpoint` (under model.visual.* or visual.*) to GPU `device`.
    // Throws ConfigError for a config without a Qwen2.5-VL vision tower (or an unusable window
    // size or fullatt_block_indexes), CheckpointError naming a missing or misshapen tensor,
    // CudaError for no device, out of memory (naming the tensor) or a head dim the flash kernel
    // lacks.
    CudaQwen25Vision(const engine::ModelConfig& config, const engine::Checkpoint& checkpoint,
                     int device = 0);
    // The same tower with its tensors from `weights` (a checkpoint's, or random ones); throws as
    // above.
    CudaQwen25Vision(const engine::ModelConfig& config, vision_tower::TowerWeights& weights,
                     int device = 0);
    // Random bf16 weights at the config's shapes generated on the device (norms ones, biases
    // zeros: cuda/random_weights.h), for benchmarks at real shapes without a checkpoint
    // (cuda/vision_synthetic.cpp). The same seed gives the same weights.
    static std::unique_ptr<CudaQwen25Vision> synthetic(const engine::ModelConfig& config,
                                                       std::uint64_t seed, int device = 0);
    ~CudaQwen25Vision() override;
    CudaQwen25Vision(const CudaQwen25Vision&) = delete;
    CudaQwen25Vision& operator=(const CudaQwen25Vision&) = delete;

    // The same merged features as Qwen25VisionModel::encode (host memory, raster order). Throws
    // std::invalid_argument when the pixel values do not fit the config, and for a `trace`.
    // Not cancellable mid-pass. One image at a time (the device scratch is shared).
    engine::VisionFeatures encode(const engine::PixelValues& pixels,
                                  const engine::Trace& trace = {}) const override;

    struct Impl;

  private:
    void build(const engine::ModelConfig& config, vision_tower::TowerWeights& weights, int device);
    std::unique_ptr<Impl> impl_;
};

}  // namespace deskpilot::model::cuda
