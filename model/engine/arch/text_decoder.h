// What every text decoder recipe shares with the code that drives it (the VLM wrapper, the
// generator, NativeVlm): the KV cache, MRoPE positions, the named-intermediate trace, image
// features to place, and the TextDecoder interface itself. make_text_decoder() picks the recipe
// from the config's architecture.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/engine/config.h"
#include "model/engine/cpu/thread_pool.h"
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
// (expert indices as floats, [tokens, k]; MoE layers only), "topk_weight", "hidden_out" (the
// layer's output, before any DeepStack addition), and "norm_out" (layer -1).
using Trace = std::function<void(const std::string& name, int layer, const float* data,
                                 std::int64_t rows, std::int64_t cols)>;

// Image features placed into one forward pass: the rows of `merged` replace the embeddings of
// the image tokens among its ids, in order, and deepstack[k] rows are added to the hidden
// states at those tokens after decoder layer k (Qwen3-VL DeepStack; empty for Qwen2.5-VL). Each
// pointer is [image tokens in this pass, hidden_size].
struct VisualInjection {
    const float* merged = nullptr;
    std::vector<const float*> deepstack;
    std::int64_t tokens = 0;
};

// How the next token is chosen from the last position's logits where a decoder chooses it itself
// (TextDecoder::forward_choose): temperature 0 is argmax (ties to the lower id), else top-p over
// softmax(logits / temperature) with the uniform draw `u` in [0, 1) (cuda/sample_twin.h's rule).
struct TokenChoice {
    float temperature = 0.0f;
    float top_p = 1.0f;
    float u = 0.0f;
};

class TextDecoder {
  public:
    virtual ~TextDecoder() = default;
    virtual const ModelConfig& config() const = 0;
    virtual KvCache new_cache(std::int64_t capacity = 256) const = 0;
    // Runs `ids` (appended after what `cache` holds) and returns logits: [ids.size(), vocab] if
    // `all_logits`, else [1, vocab] for the last token.
    // `visual`: image features for the image_token_id tokens among `ids` (their count must match).
    virtual std::vector<float> forward(std::span<const std::int32_t> ids,
                                       const Positions& positions, KvCache& cache,
                                       bool all_logits = false, const Trace& trace = {},
                                       const VisualInjection* visual = nullptr) = 0;
    // Whether forward_choose() works: the decoder picks the next token where its logits are (the
    // CUDA decoder, so only the token id leaves the device per step).
    virtual bool chooses_tokens() const { return false; }
    // forward() without the logits: runs `ids` and returns the next token chosen per `choice`.
    // Only where chooses_tokens(); the default throws std::logic_error.
    virtual std::int32_t forward_choose(std::span<const std::int32_t> /*ids*/,
                                        const Positions& /*positions*/, KvCache& /*cache*/,
                                        const TokenChoice& /*choice*/) {
        throw std::logic_error("this text decoder does not choose tokens itself (use forward)");
    }
};

// The recipe for config.architecture: qwen3_vl_moe/qwen3_moe → Qwen3MoeTextModel, qwen2_5_vl
// → Qwen25TextModel. Throws CheckpointError/ConfigError as those constructors do.
std::unique_ptr<TextDecoder> make_text_decoder(const ModelConfig& config,
                                               std::shared_ptr<const Checkpoint> checkpoint,
                                               cpu::ThreadPool& pool = cpu::ThreadPool::global());

}  // namespace deskpilot::model::engine
