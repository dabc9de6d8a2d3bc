// Token generation over the text decoder: prefill, then one token at a time from the KV cache,
// with greedy or temperature/top-p sampling (seeded, so runs repeat), stop tokens and a
// callback per token for streaming.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <span>
#include <vector>

#include "model/engine/arch/text_decoder.h"

namespace deskpilot::model::engine {

struct SamplingOptions {
    float temperature = 0.0f;  // 0: greedy (argmax, ties to the lower id)
    float top_p = 1.0f;        // nucleus: smallest set of tokens whose probability reaches top_p
    std::uint64_t seed = 0;
};

class Sampler {
  public:
    explicit Sampler(SamplingOptions o);
    std::int32_t sample(std::span<const float> logits);

  private:
    SamplingOptions options_;
    std::mt19937_64 rng_;
};

struct GenerateOptions {
    int max_new_tokens = 64;
    SamplingOptions sampling;
    std::vector<std::int32_t> stop_ids;  // generation ends after emitting one of these
};

struct GenerateResult {
    std::vector<std::int32_t> tokens;  // generated ids (a stop id included)
    std::vector<float> prompt_logits;  // logits at the last prompt position
    std::int64_t prompt_tokens = 0;
    double prefill_seconds = 0, decode_seconds = 0;
    bool stopped = false;  // ended on a stop id (rather than the token limit or the callback)
};

// `on_token` returns false to stop early.
GenerateResult generate(TextDecoder& model, std::span<const std::int32_t> prompt,
                        const GenerateOptions& options,
                        const std::function<bool(std::int32_t)>& on_token = {});

}  // namespace deskpilot::model::engine
