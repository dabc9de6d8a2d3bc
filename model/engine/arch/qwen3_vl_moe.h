// The Qwen3-VL-MoE text decoder (also plain qwen3_moe) on CPU, as a short recipe over the ops:
//   h = x + o(attn(rope(qk_norm(q, k(rms(x)))), v))      y = h + moe(rms(h))
// Weights are views into the memory-mapped checkpoint; only norm vectors are copied to f32.
// Every intermediate the golden tests check is reported by name through the Trace callback.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/engine/arch/text_decoder.h"
#include "model/engine/config.h"
#include "model/engine/cpu/linear.h"
#include "model/engine/cpu/ops.h"
#include "model/engine/safetensors.h"

namespace deskpilot::model::engine {

class Qwen3MoeTextModel : public TextDecoder {
  public:
    // Validates that every tensor the config implies exists with the right shape; throws
    // CheckpointError naming the tensor, or ConfigError for an unsupported configuration.
    Qwen3MoeTextModel(ModelConfig config, std::shared_ptr<const Checkpoint> checkpoint,
                      cpu::ThreadPool& pool = cpu::ThreadPool::global());
    ~Qwen3MoeTextModel() override;

    const ModelConfig& config() const override { return config_; }
    const std::string& tensor_prefix() const { return prefix_; }
    bool fused_experts() const { return fused_; }

    KvCache new_cache(std::int64_t capacity = 256) const override;

    // See TextDecoder::forward; `visual` may carry DeepStack features. Also traces
    // "expert_rows" [1, 2] = {expert, rows} once per expert pass of each MoE layer.
    std::vector<float> forward(std::span<const std::int32_t> ids, const Positions& positions,
                               KvCache& cache, bool all_logits = false, const Trace& trace = {},
                               const VisualInjection* visual = nullptr) override;

    struct Layer;

  private:
    void moe_block(int l, float* x, std::int64_t S, const Trace& trace);

    ModelConfig config_;
    std::shared_ptr<const Checkpoint> checkpoint_;
    cpu::ThreadPool& pool_;
    std::string prefix_;
    bool fused_ = false;
    Tensor embed_;
    cpu::WeightView lm_head_;
    std::vector<float> final_norm_;
    std::vector<Layer> layers_;
    cpu::Rope rope_;
};

}  // namespace deskpilot::model::engine
