// The CUDA vision tower in a build without CUDA: the constructors say so.
#include "model/engine/cuda/vision_model.h"

namespace deskpilot::model::cuda {

struct CudaQwen3Vision::Impl {};

CudaQwen3Vision::CudaQwen3Vision(const engine::ModelConfig&, const engine::Checkpoint&,
                                 int device) {
    require_device(device);
}
CudaQwen3Vision::CudaQwen3Vision(const engine::ModelConfig&, vision_tower::TowerWeights&,
                                 int device) {
    require_device(device);
}
std::unique_ptr<CudaQwen3Vision> CudaQwen3Vision::synthetic(const engine::ModelConfig&,
                                                            std::uint64_t, int device) {
    require_device(device);
    return nullptr;
}
CudaQwen3Vision::~CudaQwen3Vision() = default;
engine::VisionFeatures CudaQwen3Vision::encode(const engine::PixelValues&,
                                               const engine::Trace&) const {
    throw CudaError("no CUDA backend");
}

}  // namespace deskpilot::model::cuda
