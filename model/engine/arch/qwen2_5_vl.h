// The Qwen2.5-VL text decoder (UI-TARS-1.5) on CPU, as a recipe over the shared blocks:
//   h = x + o(attn(mrope(q, k (+ biases) of rms(x)), v))      y = h + down(silu(gate h')·up h')
// with h' = rms(h): dense SwiGLU MLP, q/k/v biases, no q/k norm, chunked MRoPE (the first
// section[0] frequencies follow T, the next section[1] H, the rest W), lm_head tied to the
// embeddings when the config says so. Tensors under model.* (Hub checkpoints) or
// model.language_model.*.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model/engine/arch/decoder_blocks.h"
#include "model/engine/arch/text_decoder.h"

namespace deskpilot::model::engine {

class Qwen25TextModel : public TextDecoder {
  public:
    // Throws ConfigError for another architecture, CheckpointError naming a missing or
    // misshapen tensor.
    Qwen25TextModel(ModelConfig config, std::shared_ptr<const Checkpoint> checkpoint,
                    cpu::ThreadPool& pool = cpu::ThreadPool::global());

    const ModelConfig& config() const override { return config_; }
    const std::string& tensor_prefix() const { return prefix_; }
    KvCache new_cache(std::int64_t capacity = 256) const override;
    // Traces "hidden_in", "attn_out", "hidden_out" per layer and "norm_out".
    std::vector<float> forward(std::span<const std::int32_t> ids, const Positions& positions,
                               KvCache& cache, bool all_logits = false, const Trace& trace = {},
                               const VisualInjection* visual = nullptr) override;

  private:
    struct Layer {
        blocks::Attention attn;
        blocks::Mlp mlp;
    };
    ModelConfig config_;
    std::shared_ptr<const Checkpoint> checkpoint_;
    cpu::ThreadPool& pool_;
    std::string prefix_;
    Tensor embed_;
    cpu::WeightView lm_head_;
    std::vector<float> final_norm_;
    std::vector<Layer> layers_;
    cpu::Rope rope_;
};

}  // namespace deskpilot::model::engine
