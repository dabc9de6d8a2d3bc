// The model's part of one agent step on the GPU, as NativeVlm with device "cuda" runs it
// (VlModel::prefill, then its decode loop), composed here from the same engine entries because
// a synthetic model has no checkpoint for VlModel to load:
//   screenshot pixel values → the CUDA vision tower's encode (features back in host memory, as
//   VlModel::prefill receives them) → engine::multimodal_positions → CudaTextModel::forward of
//   the whole prompt with the features as an engine::VisualInjection (merged rows replace the
//   <|image_pad|> embeddings, DeepStack rows added after the first layers; the last token's
//   logits come back) → the first token (argmax on the host, as engine::Sampler at temperature
//   0) → decode steps at position length + rope_delta with the token chosen on the device
//   (forward_greedy, as VlModel::decode_choose).
// Also the FLOPs of the tower and of the prefill (their GEMMs and attention), for the achieved
// TFLOP/s. Plain host code: bench_cuda_prefill runs it on a GPU, and
// tools/cuda_host_emu/synthetic_tower_check.cpp at tiny shapes on the host emulator.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <stdexcept>
#include <vector>

#include "model/engine/arch/vl_model.h"
#include "model/engine/config.h"
#include "model/engine/cuda/text_model.h"
#include "model/engine/vision/preprocess.h"
#include "model/engine/vision/qwen2_5_vision.h"
#include "model/engine/vision/vision_encoder.h"

namespace deskpilot::bench::gpu {

namespace engine = model::engine;
namespace cuda = model::cuda;

// An agent prompt around one screenshot: `text_tokens` text tokens (random ids below every
// special id, from `seed`), the image's `image_tokens` <|image_pad|> ids between
// <|vision_start|> and <|vision_end|> near the start (a user turn that opens with the screenshot,
// then the instruction: the cost depends only on the lengths). text_tokens counts the two
// vision markers and must be at least 3.
inline std::vector<std::int32_t> agent_prompt(const engine::ModelConfig& c,
                                              std::int64_t image_tokens, int text_tokens,
                                              unsigned seed) {
    if (text_tokens < 3) throw std::invalid_argument("an agent prompt needs >= 3 text tokens");
    const std::int32_t top = std::min({c.text.vocab_size, c.image_token_id, c.video_token_id,
                                       c.vision_start_token_id, c.vision_end_token_id});
    std::mt19937 rng(seed);
    std::uniform_int_distribution<std::int32_t> word(0, top - 1);
    const int lead = 1;  // e.g. the turn's opening tokens before the screenshot
    std::vector<std::int32_t> ids;
    ids.reserve(std::size_t(image_tokens + text_tokens));
    for (int i = 0; i < lead; ++i) ids.push_back(word(rng));
    ids.push_back(c.vision_start_token_id);
    ids.insert(ids.end(), std::size_t(image_tokens), c.image_token_id);
    ids.push_back(c.vision_end_token_id);
    for (int i = lead + 2; i < text_tokens; ++i) ids.push_back(word(rng));
    return ids;
}

struct StepResult {
    double tower_ms = 0, prefill_ms = 0, decode_ms = 0;  // ttft = tower + prefill
    std::vector<std::int32_t> answer;                    // the first token, then decode's
    std::int64_t image_tokens = 0, deepstack_levels = 0;
    bool features_finite = true, logits_finite = true;
};

// One step: `answer_tokens` tokens (the first from the prefill's logits, then answer_tokens - 1
// decode steps). The text model's KV cache is reset first (outside the timing: an agent's cache
// is already allocated). The tower and the text model are on the same GPU.
inline StepResult agent_step(const engine::VisionEncoder& tower, cuda::CudaTextModel& text,
                             const engine::PixelValues& px, std::span<const std::int32_t> ids,
                             int answer_tokens) {
    using Clock = std::chrono::steady_clock;
    auto ms = [](Clock::time_point a, Clock::time_point b) {
        return std::chrono::duration<double, std::milli>(b - a).count();
    };
    const engine::ModelConfig& c = text.config();
    text.reset(std::int64_t(ids.size()) + answer_tokens + 8);
    StepResult r;
    const auto t0 = Clock::now();
    const engine::VisionFeatures f = tower.encode(px);
    const auto t1 = Clock::now();
    const std::array<int, 3> grid = px.grid_thw;
    std::int64_t delta = 0;
    const engine::Positions pos = engine::multimodal_positions(
        ids, c.image_token_id, std::span(&grid, 1), c.vision->spatial_merge_size, delta);
    engine::VisualInjection inj;
    inj.merged = f.merged.data();
    inj.tokens = f.tokens;
    for (const auto& d : f.deepstack) inj.deepstack.push_back(d.data());
    const std::vector<float> logits = text.forward(ids, pos, false, &inj);
    const std::int32_t first =
        std::int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    const auto t2 = Clock::now();
    r.answer.push_back(first);
    for (int n = 1; n < answer_tokens; ++n)
        r.answer.push_back(text.forward_greedy(std::span(&r.answer.back(), 1),
                                               engine::Positions::text(text.length() + delta, 1)));
    const auto t3 = Clock::now();
    r.tower_ms = ms(t0, t1);
    r.prefill_ms = ms(t1, t2);
    r.decode_ms = ms(t2, t3);
    r.image_tokens = f.tokens;
    r.deepstack_levels = std::int64_t(f.deepstack.size());
    auto finite = [](const std::vector<float>& v) {
        return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
    };
    r.features_finite = finite(f.merged);
    for (const auto& d : f.deepstack) r.features_finite = r.features_finite && finite(d);
    r.logits_finite = finite(logits);
    return r;
}

// Floating-point operations (multiply and add each count one), split into the matrix products
// (what cuBLAS runs) and attention (the flash kernels: 4·head_dim per query-key pair, QKᵀ and PV).
struct Flops {
    double gemm = 0, attention = 0;
    double total() const { return gemm + attention; }
};

// The vision tower on `px`: patch embedding, each block's qkv, proj and MLP GEMMs and its
// attention (Qwen3-VL: the whole image; Qwen2.5-VL: within the windows, or the whole image in the
// full-attention blocks), the mergers (Qwen3-VL: the final one and one per DeepStack level).
inline Flops tower_flops(const engine::ModelConfig& c, const engine::PixelValues& px) {
    const engine::VisionConfig& v = *c.vision;
    const double S = double(px.rows), d = v.hidden_size, I = v.intermediate_size,
                 m2 = double(v.spatial_merge_size) * v.spatial_merge_size, T = S / m2,
                 wide = d * m2;
    const bool qwen25 = c.architecture == engine::Architecture::qwen2_5_vl;
    Flops f;
    f.gemm += 2 * S * double(px.cols) * d;
    // qkv 3d², proj d², MLP: fc1 + fc2 (2dI) or gate, up and down (3dI).
    f.gemm += v.depth * 2 * S * d * (4 * d + (qwen25 ? 3 : 2) * I);
    const double whole = 4 * S * S * d;
    if (!qwen25) {
        f.attention += v.depth * whole;
    } else {
        const int window = v.window_size / v.spatial_merge_size / v.patch_size;
        const engine::WindowLayout w =
            engine::window_layout(px.grid_thw[1], px.grid_thw[2], v.spatial_merge_size, window);
        double windowed = 0;
        for (std::size_t i = 1; i < w.cu_seqlens.size(); ++i) {
            const double len = double(w.cu_seqlens[i] - w.cu_seqlens[i - 1]);
            windowed += 4 * len * len * d;
        }
        const double full = double(v.fullatt_block_indexes.size());
        f.attention += full * whole + (v.depth - full) * windowed;
    }
    const double mergers = qwen25 ? 1 : 1 + double(v.deepstack_visual_indexes.size());
    f.gemm += mergers * 2 * T * wide * (wide + v.out_hidden_size);
    return f;
}

// The decoder's prefill of `L` tokens into an empty cache: q/k/v/o GEMMs, causal attention, the
// MLP (dense; or MoE: the router and the top-k experts of each token), the lm head for the last
// token.
inline Flops prefill_flops(const engine::ModelConfig& c, std::int64_t tokens) {
    const engine::TextConfig& t = c.text;
    const double L = double(tokens), H = t.hidden_size, D = t.head_dim, NH = t.num_heads,
                 KH = t.num_kv_heads;
    Flops f;
    for (int l = 0; l < t.num_layers; ++l) {
        f.gemm += 2 * L * H * (NH * D + 2 * KH * D) + 2 * L * NH * D * H;
        f.attention += 2 * NH * D * L * (L + 1);  // QKᵀ and PV over L(L+1)/2 pairs each
        if (t.is_moe_layer(l))
            f.gemm += 2 * L * H * t.num_experts +
                      6 * L * t.num_experts_per_tok * H * t.moe_intermediate_size;
        else
            f.gemm += 6 * L * H * t.intermediate_size;
    }
    f.gemm += 2 * H * double(t.vocab_size);
    return f;
}

}  // namespace deskpilot::bench::gpu
