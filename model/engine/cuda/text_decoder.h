// CudaTextModel behind the engine::TextDecoder interface, so engine::VlModel (and NativeVlm)
// drive the GPU decoder with the same prepared input as the CPU one: token ids, multimodal
// positions and the vision tower's features (computed on the CPU in this slice).
// The KV cache lives on the device; the engine::KvCache handed in only carries its length (no
// host storage), and a shorter length than the device holds rewinds it (prefix reuse). One
// device cache backs every KvCache of one CudaTextDecoder: use one conversation at a time.
#pragma once

#include <memory>

#include "model/engine/arch/text_decoder.h"
#include "model/engine/cuda/text_model.h"

namespace deskpilot::model::cuda {

class CudaTextDecoder : public engine::TextDecoder {
  public:
    explicit CudaTextDecoder(std::unique_ptr<CudaTextModel> model);

    const engine::ModelConfig& config() const override;
    engine::KvCache new_cache(std::int64_t capacity = 256) const override;
    // `trace` is refused (std::invalid_argument): the GPU decoder reports no intermediates.
    std::vector<float> forward(std::span<const std::int32_t> ids, const engine::Positions& pos,
                               engine::KvCache& cache, bool all_logits = false,
                               const engine::Trace& trace = {},
                               const engine::VisualInjection* visual = nullptr) override;

    // The next token chosen on the device (k::argmax or k::sample_top_p): only its id is
    // downloaded, not the vocabulary's logits.
    bool chooses_tokens() const override { return true; }
    std::int32_t forward_choose(std::span<const std::int32_t> ids, const engine::Positions& pos,
                                engine::KvCache& cache, const engine::TokenChoice& choice) override;

    CudaTextModel& model() { return *model_; }

  private:
    // Checks `cache` against the device cache, rewinds and grows it for `n` more tokens.
    void prepare(const engine::KvCache& cache, std::size_t n);
    std::unique_ptr<CudaTextModel> model_;
};

}  // namespace deskpilot::model::cuda
