// The CUDA Qwen2.5-VL vision tower in a build without CUDA: the constructors say so.
#include "model/engine/cuda/vision_qwen2_5.h"

namespace deskpilot::model::cuda {

struct CudaQwen25Vision::Impl {};

CudaQwen25Vision::CudaQwen25Vision(const engine::ModelConfig&, const engine::Checkpoint&,
                                   int device) {
    require_device(device);
}
CudaQwen25Vision::CudaQwen25Vision(const engine::ModelConfig&, vision_tower::TowerWeights&,
                                   int device) {
    require_device(device);
}
std::unique_ptr<CudaQwen25Vision> CudaQwen25Vision::synthetic(const engine::ModelConfig&,
                                                              std::uint64_t, int device) {
    require_device(device);
    return nullptr;
}
CudaQwen25Vision::~CudaQwen25Vision() = default;
engine::VisionFeatures CudaQwen25Vision::encode(const engine::PixelValues&,
                                                const engine::Trace&) const {
    throw CudaError("no CUDA backend");
}

}  // namespace deskpilot::model::cuda
