#include "model/engine/generator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace deskpilot::model::engine {

Sampler::Sampler(SamplingOptions o) : options_(o), rng_(o.seed) {
    if (!(o.temperature >= 0.0f)) throw std::invalid_argument("temperature must be >= 0");
    if (!(o.top_p > 0.0f && o.top_p <= 1.0f))
        throw std::invalid_argument("top_p must be in (0, 1]");
}

std::int32_t Sampler::sample(std::span<const float> logits) {
    if (logits.empty()) throw std::invalid_argument("sample: no logits");
    if (options_.temperature == 0.0f)
        return std::int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    const float mx = *std::max_element(logits.begin(), logits.end());
    std::vector<double> p(logits.size());
    double sum = 0;
    for (std::size_t i = 0; i < logits.size(); ++i)
        sum += p[i] = std::exp(double(logits[i] - mx) / options_.temperature);
    for (auto& v : p) v /= sum;
    std::vector<std::int32_t> order(logits.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](auto a, auto b) {
        return p[std::size_t(a)] > p[std::size_t(b)] ||
               (p[std::size_t(a)] == p[std::size_t(b)] && a < b);
    });
    // Keep the most likely tokens until their mass reaches top_p (at least one).
    std::size_t keep = 0;
    double mass = 0;
    while (keep < order.size() && (keep == 0 || mass < double(options_.top_p)))
        mass += p[std::size_t(order[keep++])];
    std::vector<double> w(keep);
    for (std::size_t i = 0; i < keep; ++i) w[i] = p[std::size_t(order[i])];
    std::discrete_distribution<std::size_t> pick(w.begin(), w.end());
    return order[pick(rng_)];
}

GenerateResult generate(TextDecoder& model, std::span<const std::int32_t> prompt,
                        const GenerateOptions& options,
                        const std::function<bool(std::int32_t)>& on_token) {
    if (prompt.empty()) throw std::invalid_argument("generate: the prompt is empty");
    if (options.max_new_tokens < 0)
        throw std::invalid_argument("generate: max_new_tokens must be >= 0");
    using clock = std::chrono::steady_clock;
    GenerateResult r;
    r.prompt_tokens = std::int64_t(prompt.size());
    Sampler sampler(options.sampling);
    KvCache kv = model.new_cache(std::int64_t(prompt.size()) + options.max_new_tokens + 1);
    auto t0 = clock::now();
    std::vector<float> logits =
        model.forward(prompt, Positions::text(0, std::int64_t(prompt.size())), kv);
    r.prefill_seconds = std::chrono::duration<double>(clock::now() - t0).count();
    r.prompt_logits = logits;
    t0 = clock::now();
    for (int i = 0; i < options.max_new_tokens; ++i) {
        const std::int32_t id = sampler.sample(logits);
        r.tokens.push_back(id);
        const bool stop = std::find(options.stop_ids.begin(), options.stop_ids.end(), id) !=
                          options.stop_ids.end();
        if (on_token && !on_token(id)) break;
        if (stop) {
            r.stopped = true;
            break;
        }
        if (i + 1 == options.max_new_tokens) break;  // no forward pass for a token never sampled
        const std::int32_t one[1] = {id};
        logits = model.forward(one, Positions::text(kv.length, 1), kv);
    }
    r.decode_seconds = std::chrono::duration<double>(clock::now() - t0).count();
    return r;
}

}  // namespace deskpilot::model::engine
