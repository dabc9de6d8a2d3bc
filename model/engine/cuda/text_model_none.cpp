// The CUDA decoder in a build without CUDA: every entry point says so.
#include "model/engine/cuda/text_model.h"

namespace deskpilot::model::cuda {

struct CudaTextModel::Impl {};

CudaTextModel::CudaTextModel() {
    require_device();
}
CudaTextModel::CudaTextModel(const engine::Qwen3MoeTextModel&, const engine::Checkpoint&,
                             int device) {
    require_device(device);
}
CudaTextModel::CudaTextModel(const engine::Qwen25TextModel&, const engine::Checkpoint&,
                             int device) {
    require_device(device);
}
std::unique_ptr<CudaTextModel> CudaTextModel::upload(const engine::TextDecoder&,
                                                     const engine::Checkpoint&, int device) {
    require_device(device);
    return nullptr;
}
std::unique_ptr<CudaTextModel> CudaTextModel::synthetic(const engine::ModelConfig&, std::uint64_t,
                                                        int device) {
    require_device(device);
    return nullptr;
}
CudaTextModel::~CudaTextModel() = default;
const engine::ModelConfig& CudaTextModel::config() const {
    throw CudaError("no CUDA backend");
}
void CudaTextModel::reset(std::int64_t) {}
void CudaTextModel::reserve(std::int64_t) {}
void CudaTextModel::rewind(std::int64_t) {}
std::int64_t CudaTextModel::length() const {
    return 0;
}
std::int64_t CudaTextModel::capacity() const {
    return 0;
}
KvDtype CudaTextModel::kv_dtype() const {
    return KvDtype::bf16;
}
void CudaTextModel::set_kv_dtype(KvDtype) {}
bool CudaTextModel::fused() const {
    return true;
}
void CudaTextModel::set_fused(bool) {}
bool CudaTextModel::graphs() const {
    return false;
}
void CudaTextModel::set_graphs(bool) {}
bool CudaTextModel::gemv() const {
    return false;
}
void CudaTextModel::set_gemv(bool) {}
GraphCounts CudaTextModel::graph_counts() const {
    return {};
}
std::vector<float> CudaTextModel::forward(std::span<const std::int32_t>, const engine::Positions&,
                                          bool, const engine::VisualInjection*) {
    throw CudaError("no CUDA backend");
}
std::int32_t CudaTextModel::forward_greedy(std::span<const std::int32_t>,
                                           const engine::Positions&) {
    throw CudaError("no CUDA backend");
}
std::int32_t CudaTextModel::forward_sample(std::span<const std::int32_t>, const engine::Positions&,
                                           float, float, float) {
    throw CudaError("no CUDA backend");
}
void CudaTextModel::synchronize() const {}
std::size_t CudaTextModel::weight_bytes() const {
    return 0;
}
std::size_t CudaTextModel::decode_bytes_per_token() const {
    return 0;
}

engine::GenerateResult generate(CudaTextModel&, std::span<const std::int32_t>,
                                const engine::GenerateOptions&,
                                const std::function<bool(std::int32_t)>&) {
    throw CudaError("no CUDA backend");
}

}  // namespace deskpilot::model::cuda
