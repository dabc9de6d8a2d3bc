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

#include "model/engine/config.h"
#include "model/engine/cpu/linear.h"
#include "model/engine/cpu/ops.h"
#include "model/engine/safetensors.h"

namespace deskpilot::model::engine {

// Per-layer K/V in f32, [layers][kv_heads][capacity][head_dim]; grows on demand.
struct KvCache {
    std::int64_t length = 0;
    std::int64_t capacity = 0;
    std::vector<std::vector<float>> k, v;
};

// Positions per token for MRoPE: T, H and W (all equal for text).
struct Positions {
    std::vector<std::int64_t> t, h, w;
    static Positions text(std::int64_t start, std::int64_t count);
    std::size_t size() const { return t.size(); }
};

// Called with each named intermediate: "hidden_in" (the layer's input), "attn_out", "topk"
// (expert indices as floats, [tokens, k]), "topk_weight", "hidden_out" (the layer's output,
// before any DeepStack addition), and "norm_out" (layer -1).
using Trace = std::function<void(const std::string& name, int layer, const float* data,
                                 std::int64_t rows, std::int64_t cols)>;

// Image features placed into one forward pass: the rows of `merged` replace the embeddings of
// the image tokens among its ids, in order, and deepstack[k] rows are added to the hidden
// states at those tokens after decoder layer k (Qwen3-VL DeepStack). Each pointer is
// [image tokens in this pass, hidden_size].
struct VisualInjection {
    const float* merged = nullptr;
    std::vector<const float*> deepstack;
    std::int64_t tokens = 0;
};

class Qwen3MoeTextModel {
  public:
    // Validates that every tensor the config implies exists with the right shape; throws
    // CheckpointError naming the tensor, or ConfigError for an unsupported configuration.
    Qwen3MoeTextModel(ModelConfig config, std::shared_ptr<const Checkpoint> checkpoint,
                      cpu::ThreadPool& pool = cpu::ThreadPool::global());
    ~Qwen3MoeTextModel();

    const ModelConfig& config() const { return config_; }
    const std::string& tensor_prefix() const { return prefix_; }
    bool fused_experts() const { return fused_; }

    KvCache new_cache(std::int64_t capacity = 256) const;

    // Runs `ids` (appended after what `cache` holds) and returns logits: [ids.size(), vocab] if
    // `all_logits`, else [1, vocab] for the last token.
    // `visual`: image features for the image_token_id tokens among `ids` (their count must match).
    std::vector<float> forward(std::span<const std::int32_t> ids, const Positions& positions,
                               KvCache& cache, bool all_logits = false, const Trace& trace = {},
                               const VisualInjection* visual = nullptr);

    struct Layer;

  private:
    void attention_block(int l, float* x, std::int64_t S, const Positions& pos, KvCache& cache,
                         const Trace& trace);
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
