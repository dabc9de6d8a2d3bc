// The CPU twins of the engine's ops, on f32 activations. Each is a short loop with the exact
// arithmetic transformers uses (fp32 statistics, fp32 softmax), parallel where it pays.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "model/engine/cpu/thread_pool.h"

namespace deskpilot::model::engine::cpu {

// out[r] = x[r] / sqrt(mean(x[r]²) + eps) * weight, for `rows` rows of width `d` (in place
// allowed).
void rms_norm(const float* x, const float* weight, std::int64_t rows, std::int64_t d, float eps,
              float* out);

// Rotary frequencies for one token: angle[j] = position(axis(j)) * inv_freq[j], j < head_dim/2.
struct Rope {
    std::vector<float> inv_freq;   // θ^(-2j/head_dim), computed in f32 as transformers does
    std::array<int, 3> section{};  // MRoPE T/H/W sections; all zero: plain 1-D
    bool interleaved = false;

    Rope(int head_dim, double theta, std::span<const int> mrope_section, bool interleaved);
    // Which position axis (0 = T, 1 = H, 2 = W) frequency j takes.
    int axis(int j) const;
    // cos/sin tables [half] for positions (t, h, w).
    void tables(std::int64_t t, std::int64_t h, std::int64_t w, float* cos, float* sin) const;
};

// NeoX rotate-half rotary on `heads` vectors of width 2·half stored back to back.
void apply_rope(float* x, std::int64_t heads, std::int64_t half, const float* cos,
                const float* sin);

// Causal GQA attention of `q_len` new queries at absolute positions past..past+q_len-1 against a
// cache holding past+q_len keys/values. q: [q_len, heads, d]; k_cache/v_cache: [kv_heads, cap, d];
// out: [q_len, heads, d].
// attention() runs Q·Kᵀ and P·V through the SIMD GEMM kernels per KV head (query blocks keep
// the score matrix small); attention_reference() is its plain-loop twin.
void attention(const float* q, std::int64_t q_len, std::int64_t past, std::int64_t heads,
               std::int64_t kv_heads, std::int64_t d, const float* k_cache, const float* v_cache,
               std::int64_t cap, float scale, float* out, ThreadPool& pool);
void attention_reference(const float* q, std::int64_t q_len, std::int64_t past, std::int64_t heads,
                         std::int64_t kv_heads, std::int64_t d, const float* k_cache,
                         const float* v_cache, std::int64_t cap, float scale, float* out,
                         ThreadPool& pool);

// Router: softmax over `experts` logits in fp32, top-k (descending, ties to the lower index),
// weights renormalised to sum 1 when `normalise`.
void route_top_k(const float* logits, std::int64_t experts, int k, bool normalise, int* index,
                 float* weight);

// out[i] = silu(g[i]) · u[i], vectorised (e^x within ~1e-7 relative of libm's); out may be g
// or u.
void silu_mul(const float* g, const float* u, float* out, std::int64_t n);

// s[0, n) = softmax(scale · s[0, n)) in fp32, in place, vectorised likewise.
void softmax_scaled(float* s, std::int64_t n, float scale);

inline float silu(float x) {
    return x / (1.0f + __builtin_expf(-x));
}

}  // namespace deskpilot::model::engine::cpu
