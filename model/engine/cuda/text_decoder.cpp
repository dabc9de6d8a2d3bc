#include "model/engine/cuda/text_decoder.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace deskpilot::model::cuda {

CudaTextDecoder::CudaTextDecoder(std::unique_ptr<CudaTextModel> model) : model_(std::move(model)) {
    if (!model_) throw std::invalid_argument("CudaTextDecoder: no model");
}

const engine::ModelConfig& CudaTextDecoder::config() const {
    return model_->config();
}

engine::KvCache CudaTextDecoder::new_cache(std::int64_t capacity) const {
    engine::KvCache kv;  // no host storage: the device holds K and V
    kv.capacity = std::max<std::int64_t>(1, capacity);
    return kv;
}

void CudaTextDecoder::prepare(const engine::KvCache& cache, std::size_t n) {
    if (!cache.k.empty())
        throw std::invalid_argument("forward: this KV cache was made by a CPU decoder");
    if (cache.length > model_->length())
        throw std::invalid_argument("forward: the KV cache says " + std::to_string(cache.length) +
                                    " tokens but the CUDA cache holds " +
                                    std::to_string(model_->length()) +
                                    " (one conversation at a time)");
    model_->rewind(cache.length);
    const std::int64_t need = cache.length + std::int64_t(n);
    // Grow geometrically: an agent conversation adds a screenshot's tokens every step.
    if (need > model_->capacity())
        model_->reserve(std::max({need, 2 * model_->capacity(), cache.capacity}));
}

std::vector<float> CudaTextDecoder::forward(std::span<const std::int32_t> ids,
                                            const engine::Positions& pos, engine::KvCache& cache,
                                            bool all_logits, const engine::Trace& trace,
                                            const engine::VisualInjection* visual) {
    if (trace)
        throw std::invalid_argument(
            "the CUDA decoder reports no intermediates (trace); use the "
            "CPU decoder to trace");
    prepare(cache, ids.size());
    std::vector<float> logits = model_->forward(ids, pos, all_logits, visual);
    cache.length = model_->length();
    cache.capacity = model_->capacity();
    return logits;
}

std::int32_t CudaTextDecoder::forward_choose(std::span<const std::int32_t> ids,
                                             const engine::Positions& pos, engine::KvCache& cache,
                                             const engine::TokenChoice& choice) {
    prepare(cache, ids.size());
    const std::int32_t id =
        choice.temperature == 0.0f
            ? model_->forward_greedy(ids, pos)
            : model_->forward_sample(ids, pos, choice.temperature, choice.top_p, choice.u);
    cache.length = model_->length();
    cache.capacity = model_->capacity();
    return id;
}

}  // namespace deskpilot::model::cuda
