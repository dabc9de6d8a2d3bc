#include "model/engine/arch/qwen3_vl_moe.h"

#include "model/engine/arch/decoder_blocks.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace deskpilot::model::engine {

using cpu::Layout;
using cpu::WeightView;

struct Expert {
    WeightView gate, up, down;
    // Hub-fused experts: gate and up side by side ([H, 2I], gate first), run as one GEMM so the
    // activations are converted once and each weight row is read as one contiguous run.
    WeightView gate_up;
};

struct Qwen3MoeTextModel::Layer {
    blocks::Attention attn;
    std::vector<float> post_norm;
    bool moe = false;
    WeightView router;
    std::vector<Expert> experts;  // for a dense layer: one, with weight 1
};

Qwen3MoeTextModel::~Qwen3MoeTextModel() = default;

Qwen3MoeTextModel::Qwen3MoeTextModel(ModelConfig config,
                                     std::shared_ptr<const Checkpoint> checkpoint,
                                     cpu::ThreadPool& pool)
    : config_(std::move(config)),
      checkpoint_(std::move(checkpoint)),
      pool_(pool),
      rope_(config_.text.head_dim, config_.text.rope_theta, config_.text.mrope_section,
            config_.text.mrope_interleaved) {
    const TextConfig& c = config_.text;
    if (config_.architecture == Architecture::qwen2_5_vl)
        throw ConfigError(
            "qwen2_5_vl is a dense decoder; this recipe runs qwen3_vl_moe and qwen3_moe");
    if (c.attention_bias)
        throw ConfigError("attention_bias is not supported by the qwen3 MoE recipe");
    const Checkpoint& ck = *checkpoint_;
    prefix_ = blocks::text_prefix(ck, "Qwen3 MoE");
    const blocks::TensorLoader L(ck, prefix_);
    const std::int64_t H = c.hidden_size, E = c.num_experts, I = c.moe_intermediate_size;
    embed_ = L.need("embed_tokens.weight", {c.vocab_size, H});
    final_norm_ = L.vec("norm.weight", H);
    lm_head_ = blocks::lm_head(L, c, embed_);

    fused_ = L.has("layers.0.mlp.experts.gate_up_proj");
    layers_.resize(std::size_t(c.num_layers));
    for (int l = 0; l < c.num_layers; ++l) {
        Layer& ly = layers_[std::size_t(l)];
        const std::string p = "layers." + std::to_string(l) + ".";
        ly.attn = blocks::load_attention(L, c, p);
        ly.post_norm = L.vec(p + "post_attention_layernorm.weight", H);
        ly.moe = c.is_moe_layer(l);
        if (ly.moe) {
            ly.router = WeightView::of(L.need(p + "mlp.gate.weight", {E, H}), Layout::out_in);
            if (fused_) {
                const Tensor gu = L.need(p + "mlp.experts.gate_up_proj", {E, H, 2 * I});
                const Tensor dn = L.need(p + "mlp.experts.down_proj", {E, I, H});
                for (std::int64_t e = 0; e < E; ++e) {
                    const WeightView g = WeightView::of(gu.select(0, e), Layout::in_out);
                    ly.experts.push_back({g.cols_slice(0, I), g.cols_slice(I, 2 * I),
                                          WeightView::of(dn.select(0, e), Layout::in_out), g});
                }
            } else {
                for (std::int64_t e = 0; e < E; ++e) {
                    const std::string q = p + "mlp.experts." + std::to_string(e) + ".";
                    ly.experts.push_back(
                        {WeightView::of(L.need(q + "gate_proj.weight", {I, H}), Layout::out_in),
                         WeightView::of(L.need(q + "up_proj.weight", {I, H}), Layout::out_in),
                         WeightView::of(L.need(q + "down_proj.weight", {H, I}), Layout::out_in)});
                }
            }
        } else {
            const std::int64_t F = c.intermediate_size;
            ly.experts.push_back(
                {WeightView::of(L.need(p + "mlp.gate_proj.weight", {F, H}), Layout::out_in),
                 WeightView::of(L.need(p + "mlp.up_proj.weight", {F, H}), Layout::out_in),
                 WeightView::of(L.need(p + "mlp.down_proj.weight", {H, F}), Layout::out_in)});
        }
    }
}

KvCache Qwen3MoeTextModel::new_cache(std::int64_t capacity) const {
    return blocks::new_cache(config_.text, capacity);
}

void Qwen3MoeTextModel::moe_block(int l, float* x, std::int64_t S, const Trace& trace) {
    const TextConfig& c = config_.text;
    const Layer& ly = layers_[std::size_t(l)];
    const std::int64_t H = c.hidden_size;
    float* h = blocks::scratch(blocks::Slot::moe_h, std::size_t(S * H));
    cpu::rms_norm(x, ly.post_norm.data(), S, H, float(c.rms_norm_eps), h);

    // Route: which experts each token uses, with what weight.
    const int K = ly.moe ? c.num_experts_per_tok : 1;
    const std::int64_t E = std::int64_t(ly.experts.size());
    std::vector<int> idx(std::size_t(S * K), 0);
    std::vector<float> wt(std::size_t(S * K), 1.0f);
    if (ly.moe) {
        std::vector<float> logits(std::size_t(S * E));
        cpu::linear(h, S, ly.router, logits.data(), pool_);
        for (std::int64_t i = 0; i < S; ++i)
            cpu::route_top_k(logits.data() + i * E, E, K, c.norm_topk_prob, idx.data() + i * K,
                             wt.data() + i * K);
        if (trace) {
            std::vector<float> f(idx.begin(), idx.end());
            trace("topk", l, f.data(), S, K);
            trace("topk_weight", l, wt.data(), S, K);
        }
    }

    // Group tokens by expert so each selected expert's weights are read once per pass; experts
    // no token chose are never touched.
    std::vector<std::vector<std::pair<std::int64_t, float>>> by_expert(static_cast<std::size_t>(E));
    for (std::int64_t i = 0; i < S; ++i)
        for (int j = 0; j < K; ++j)
            by_expert[std::size_t(idx[std::size_t(i * K + j)])].push_back(
                {i, wt[std::size_t(i * K + j)]});

    float* out = blocks::scratch(blocks::Slot::moe_out, std::size_t(S * H));
    std::fill(out, out + S * H, 0.0f);
    for (std::int64_t e = 0; e < E; ++e) {
        const auto& toks = by_expert[std::size_t(e)];
        if (toks.empty()) continue;
        const Expert& ex = ly.experts[std::size_t(e)];
        const std::int64_t n = std::int64_t(toks.size()), F = ex.gate.out_features();
        float* xe = blocks::scratch(blocks::Slot::moe_x, std::size_t(n * H));
        for (std::int64_t r = 0; r < n; ++r)
            std::memcpy(xe + r * H, h + toks[std::size_t(r)].first * H,
                        std::size_t(H) * sizeof(float));
        float* g = blocks::scratch(blocks::Slot::moe_g, std::size_t(n * F));
        float* d = blocks::scratch(blocks::Slot::moe_d, std::size_t(n * H));
        if (ex.gate_up.data) {
            float* gu = blocks::scratch(blocks::Slot::moe_u, std::size_t(n * 2 * F));
            cpu::linear(xe, n, ex.gate_up, gu, pool_);
            for (std::int64_t r = 0; r < n; ++r)
                cpu::silu_mul(gu + r * 2 * F, gu + r * 2 * F + F, g + r * F, F);
        } else {
            float* u = blocks::scratch(blocks::Slot::moe_u, std::size_t(n * F));
            cpu::linear(xe, n, ex.gate, g, pool_);
            cpu::linear(xe, n, ex.up, u, pool_);
            cpu::silu_mul(g, u, g, n * F);
        }
        cpu::linear(g, n, ex.down, d, pool_);
        if (trace) {  // one pass per chosen expert (tests count them)
            const float rows[2] = {float(e), float(n)};
            trace("expert_rows", l, rows, 1, 2);
        }
        for (std::int64_t r = 0; r < n; ++r) {
            const auto [tok, w] = toks[std::size_t(r)];
            float* o = out + tok * H;
            const float* dr = d + r * H;
            for (std::int64_t i = 0; i < H; ++i) o[i] += w * dr[i];
        }
    }
    for (std::int64_t i = 0; i < S * H; ++i) x[i] += out[i];
}

std::vector<float> Qwen3MoeTextModel::forward(std::span<const std::int32_t> ids,
                                              const Positions& pos, KvCache& kv, bool all_logits,
                                              const Trace& trace, const VisualInjection* visual) {
    const TextConfig& c = config_.text;
    blocks::check_forward(c, ids, pos, kv);
    const std::int64_t S = std::int64_t(ids.size()), H = c.hidden_size;
    std::vector<float> x(std::size_t(S * H));
    const std::vector<std::int64_t> image_rows =
        blocks::embed(config_, embed_, ids, visual, x.data());
    blocks::reserve(kv, kv.length + S, c.num_kv_heads, c.head_dim);
    for (int l = 0; l < c.num_layers; ++l) {
        if (trace) trace("hidden_in", l, x.data(), S, H);
        blocks::attention(c, layers_[std::size_t(l)].attn, rope_, l, x.data(), S, pos, kv, trace,
                          pool_);
        moe_block(l, x.data(), S, trace);
        if (trace) trace("hidden_out", l, x.data(), S, H);  // before DeepStack, as transformers
        if (visual && std::size_t(l) < visual->deepstack.size())
            for (std::size_t j = 0; j < image_rows.size(); ++j) {
                float* row = x.data() + image_rows[j] * H;
                const float* add = visual->deepstack[std::size_t(l)] + std::int64_t(j) * H;
                for (std::int64_t k = 0; k < H; ++k) row[k] += add[k];
            }
    }
    kv.length += S;
    return blocks::logits(c, final_norm_, lm_head_, x.data(), S, all_logits, trace, pool_);
}

}  // namespace deskpilot::model::engine
