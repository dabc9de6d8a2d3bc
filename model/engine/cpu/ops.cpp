#include "model/engine/cpu/ops.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace deskpilot::model::engine::cpu {

void rms_norm(const float* x, const float* weight, std::int64_t rows, std::int64_t d, float eps,
              float* out) {
    for (std::int64_t r = 0; r < rows; ++r) {
        const float* xr = x + r * d;
        float* o = out + r * d;
        // Sum of squares in double keeps the f32 mean as exact as torch's reduction.
        double ss = 0.0;
        for (std::int64_t i = 0; i < d; ++i) ss += double(xr[i]) * double(xr[i]);
        const float inv = 1.0f / std::sqrt(float(ss / double(d)) + eps);
        for (std::int64_t i = 0; i < d; ++i) o[i] = weight[i] * (xr[i] * inv);
    }
}

Rope::Rope(int head_dim, double theta, std::span<const int> mrope_section, bool inter)
    : interleaved(inter) {
    const int half = head_dim / 2;
    inv_freq.resize(std::size_t(half));
    for (int j = 0; j < half; ++j) {
        // transformers: 1.0 / (base ** (arange(0, dim, 2).float() / dim)) in float32.
        const float expo = float(2 * j) / float(head_dim);
        inv_freq[std::size_t(j)] = 1.0f / std::pow(float(theta), expo);
    }
    for (std::size_t i = 0; i < mrope_section.size() && i < 3; ++i) section[i] = mrope_section[i];
}

int Rope::axis(int j) const {
    if (section[0] + section[1] + section[2] == 0) return 0;
    if (interleaved) {
        // Frequencies 1, 4, 7, … take H and 2, 5, 8, … take W, within 3·section; the rest T.
        if (j % 3 == 1 && j < 3 * section[1]) return 1;
        if (j % 3 == 2 && j < 3 * section[2]) return 2;
        return 0;
    }
    // Chunked (Qwen2-VL/2.5-VL): the first section[0] frequencies T, then H, then W.
    if (j < section[0]) return 0;
    if (j < section[0] + section[1]) return 1;
    return 2;
}

void Rope::tables(std::int64_t t, std::int64_t h, std::int64_t w, float* cos, float* sin) const {
    const std::int64_t pos[3] = {t, h, w};
    for (std::size_t j = 0; j < inv_freq.size(); ++j) {
        const float angle = float(pos[axis(int(j))]) * inv_freq[j];  // f32 product, as torch
        cos[j] = std::cos(angle);
        sin[j] = std::sin(angle);
    }
}

void apply_rope(float* x, std::int64_t heads, std::int64_t half, const float* cos,
                const float* sin) {
    for (std::int64_t h = 0; h < heads; ++h) {
        float* v = x + h * 2 * half;
        for (std::int64_t j = 0; j < half; ++j) {
            const float a = v[j], b = v[j + half];
            v[j] = a * cos[j] - b * sin[j];
            v[j + half] = b * cos[j] + a * sin[j];
        }
    }
}

void attention_reference(const float* q, std::int64_t q_len, std::int64_t past, std::int64_t heads,
                         std::int64_t kv_heads, std::int64_t d, const float* k_cache,
                         const float* v_cache, std::int64_t cap, float scale, float* out,
                         ThreadPool& pool) {
    const std::int64_t group = heads / kv_heads;
    pool.parallel_for(q_len * heads, 1, [&](std::int64_t a, std::int64_t b) {
        std::vector<float> scores(std::size_t(past + q_len));
        for (std::int64_t job = a; job < b; ++job) {
            const std::int64_t i = job / heads, h = job % heads, kvh = h / group;
            const float* qv = q + (i * heads + h) * d;
            const float* kb = k_cache + kvh * cap * d;
            const float* vb = v_cache + kvh * cap * d;
            const std::int64_t n = past + i + 1;  // causal: keys 0..past+i
            float mx = -INFINITY;
            for (std::int64_t t = 0; t < n; ++t) {
                float s = 0.0f;
                const float* kv = kb + t * d;
                for (std::int64_t c = 0; c < d; ++c) s += qv[c] * kv[c];
                s *= scale;
                scores[std::size_t(t)] = s;
                mx = std::max(mx, s);
            }
            double sum = 0.0;
            for (std::int64_t t = 0; t < n; ++t) {
                scores[std::size_t(t)] = std::exp(scores[std::size_t(t)] - mx);
                sum += scores[std::size_t(t)];
            }
            const float inv = float(1.0 / sum);
            float* o = out + (i * heads + h) * d;
            std::fill(o, o + d, 0.0f);
            for (std::int64_t t = 0; t < n; ++t) {
                const float p = scores[std::size_t(t)] * inv;
                const float* vv = vb + t * d;
                for (std::int64_t c = 0; c < d; ++c) o[c] += p * vv[c];
            }
        }
    });
}

void route_top_k(const float* logits, std::int64_t experts, int k, bool normalise, int* index,
                 float* weight) {
    std::vector<float> p(static_cast<std::size_t>(experts));
    const float mx = *std::max_element(logits, logits + experts);
    double sum = 0.0;
    for (std::int64_t e = 0; e < experts; ++e) {
        p[std::size_t(e)] = std::exp(logits[e] - mx);
        sum += p[std::size_t(e)];
    }
    for (auto& v : p) v = float(v / sum);
    std::vector<int> order(static_cast<std::size_t>(experts));
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int a, int b) {
        return p[std::size_t(a)] > p[std::size_t(b)] ||
               (p[std::size_t(a)] == p[std::size_t(b)] && a < b);
    });
    double total = 0.0;
    for (int i = 0; i < k; ++i) total += p[std::size_t(order[std::size_t(i)])];
    for (int i = 0; i < k; ++i) {
        index[i] = order[std::size_t(i)];
        weight[i] = normalise ? float(p[std::size_t(order[std::size_t(i)])] / total)
                              : p[std::size_t(order[std::size_t(i)])];
    }
}

}  // namespace deskpilot::model::engine::cpu
