#include "model/engine/arch/qwen3_vl_moe.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace deskpilot::model::engine {

using cpu::Layout;
using cpu::WeightView;

struct Expert {
    WeightView gate, up, down;
};

struct Qwen3MoeTextModel::Layer {
    std::vector<float> input_norm, post_norm, q_norm, k_norm;
    WeightView q, k, v, o;
    bool moe = false;
    WeightView router;
    std::vector<Expert> experts;  // for a dense layer: one, with weight 1
};

Positions Positions::text(std::int64_t start, std::int64_t count) {
    Positions p;
    for (std::int64_t i = 0; i < count; ++i) {
        p.t.push_back(start + i);
        p.h.push_back(start + i);
        p.w.push_back(start + i);
    }
    return p;
}

namespace {

class Loader {
  public:
    Loader(const Checkpoint& c, std::string prefix) : ckpt_(c), prefix_(std::move(prefix)) {}

    Tensor need(const std::string& name, const Shape& shape, bool prefixed = true) const {
        const std::string full = prefixed ? prefix_ + name : name;
        if (!ckpt_.has(full))
            throw CheckpointError(ckpt_.path().string() + ": tensor '" + full + "' is missing");
        Tensor t = ckpt_.get(full);
        if (t.shape() != shape)
            throw CheckpointError(ckpt_.path().string() + ": tensor '" + full + "' has shape " +
                                  shape_to_string(t.shape()) + " but the config needs " +
                                  shape_to_string(shape));
        return t;
    }
    std::vector<float> vec(const std::string& name, std::int64_t n) const {
        const Tensor t = need(name, {n}).to_f32();
        return std::vector<float>(t.data<float>(), t.data<float>() + n);
    }
    bool has(const std::string& name) const { return ckpt_.has(prefix_ + name); }

  private:
    const Checkpoint& ckpt_;
    std::string prefix_;
};

}  // namespace

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
    for (const char* p : {"model.language_model.", "model."})
        if (ck.has(std::string(p) + "embed_tokens.weight")) {
            prefix_ = p;
            break;
        }
    if (prefix_.empty())
        throw CheckpointError(ck.path().string() +
                              ": no embed_tokens.weight under model.language_model.* or model.* "
                              "(is this a Qwen3 MoE checkpoint?)");
    const Loader L(ck, prefix_);
    const std::int64_t H = c.hidden_size, D = c.head_dim, E = c.num_experts,
                       I = c.moe_intermediate_size;
    embed_ = L.need("embed_tokens.weight", {c.vocab_size, H});
    final_norm_ = L.vec("norm.weight", H);
    if (c.tie_word_embeddings)
        lm_head_ = WeightView::of(embed_, Layout::out_in);
    else
        lm_head_ =
            WeightView::of(L.need("lm_head.weight", {c.vocab_size, H}, false), Layout::out_in);

    fused_ = L.has("layers.0.mlp.experts.gate_up_proj");
    layers_.resize(std::size_t(c.num_layers));
    for (int l = 0; l < c.num_layers; ++l) {
        Layer& ly = layers_[std::size_t(l)];
        const std::string p = "layers." + std::to_string(l) + ".";
        ly.input_norm = L.vec(p + "input_layernorm.weight", H);
        ly.post_norm = L.vec(p + "post_attention_layernorm.weight", H);
        ly.q_norm = L.vec(p + "self_attn.q_norm.weight", D);
        ly.k_norm = L.vec(p + "self_attn.k_norm.weight", D);
        ly.q = WeightView::of(L.need(p + "self_attn.q_proj.weight", {c.num_heads * D, H}),
                              Layout::out_in);
        ly.k = WeightView::of(L.need(p + "self_attn.k_proj.weight", {c.num_kv_heads * D, H}),
                              Layout::out_in);
        ly.v = WeightView::of(L.need(p + "self_attn.v_proj.weight", {c.num_kv_heads * D, H}),
                              Layout::out_in);
        ly.o = WeightView::of(L.need(p + "self_attn.o_proj.weight", {H, c.num_heads * D}),
                              Layout::out_in);
        ly.moe = c.is_moe_layer(l);
        if (ly.moe) {
            ly.router = WeightView::of(L.need(p + "mlp.gate.weight", {E, H}), Layout::out_in);
            if (fused_) {
                const Tensor gu = L.need(p + "mlp.experts.gate_up_proj", {E, H, 2 * I});
                const Tensor dn = L.need(p + "mlp.experts.down_proj", {E, I, H});
                for (std::int64_t e = 0; e < E; ++e) {
                    const WeightView g = WeightView::of(gu.select(0, e), Layout::in_out);
                    ly.experts.push_back({g.cols_slice(0, I), g.cols_slice(I, 2 * I),
                                          WeightView::of(dn.select(0, e), Layout::in_out)});
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
    KvCache kv;
    kv.capacity = std::max<std::int64_t>(1, capacity);
    const std::size_t n =
        std::size_t(config_.text.num_kv_heads * kv.capacity * config_.text.head_dim);
    kv.k.assign(std::size_t(config_.text.num_layers), std::vector<float>(n));
    kv.v.assign(std::size_t(config_.text.num_layers), std::vector<float>(n));
    return kv;
}

namespace {

void grow(KvCache& kv, std::int64_t needed, std::int64_t kv_heads, std::int64_t d) {
    if (needed <= kv.capacity) return;
    const std::int64_t cap = std::max(needed, 2 * kv.capacity);
    for (auto* side : {&kv.k, &kv.v})
        for (auto& buf : *side) {
            std::vector<float> nb(std::size_t(kv_heads * cap * d));
            for (std::int64_t h = 0; h < kv_heads; ++h)
                std::memcpy(nb.data() + h * cap * d, buf.data() + h * kv.capacity * d,
                            std::size_t(kv.length * d) * sizeof(float));
            buf.swap(nb);
        }
    kv.capacity = cap;
}

}  // namespace

void Qwen3MoeTextModel::attention_block(int l, float* x, std::int64_t S, const Positions& pos,
                                        KvCache& kv, const Trace& trace) {
    const TextConfig& c = config_.text;
    const Layer& ly = layers_[std::size_t(l)];
    const std::int64_t H = c.hidden_size, D = c.head_dim, NH = c.num_heads, KH = c.num_kv_heads,
                       half = D / 2;
    const float eps = float(c.rms_norm_eps);
    std::vector<float> h(std::size_t(S * H)), q(std::size_t(S * NH * D)),
        k(std::size_t(S * KH * D)), v(std::size_t(S * KH * D));
    cpu::rms_norm(x, ly.input_norm.data(), S, H, eps, h.data());
    cpu::linear(h.data(), S, ly.q, q.data(), pool_);
    cpu::linear(h.data(), S, ly.k, k.data(), pool_);
    cpu::linear(h.data(), S, ly.v, v.data(), pool_);
    cpu::rms_norm(q.data(), ly.q_norm.data(), S * NH, D, eps, q.data());
    cpu::rms_norm(k.data(), ly.k_norm.data(), S * KH, D, eps, k.data());
    std::vector<float> cs(static_cast<std::size_t>(half)), sn(static_cast<std::size_t>(half));
    const std::int64_t past = kv.length;
    for (std::int64_t i = 0; i < S; ++i) {
        rope_.tables(pos.t[std::size_t(i)], pos.h[std::size_t(i)], pos.w[std::size_t(i)], cs.data(),
                     sn.data());
        cpu::apply_rope(q.data() + i * NH * D, NH, half, cs.data(), sn.data());
        cpu::apply_rope(k.data() + i * KH * D, KH, half, cs.data(), sn.data());
        for (std::int64_t g = 0; g < KH; ++g) {
            const std::size_t dst = std::size_t((g * kv.capacity + past + i) * D);
            std::memcpy(kv.k[std::size_t(l)].data() + dst, k.data() + (i * KH + g) * D,
                        std::size_t(D) * sizeof(float));
            std::memcpy(kv.v[std::size_t(l)].data() + dst, v.data() + (i * KH + g) * D,
                        std::size_t(D) * sizeof(float));
        }
    }
    std::vector<float> att(std::size_t(S * NH * D)), o(std::size_t(S * H));
    cpu::attention(q.data(), S, past, NH, KH, D, kv.k[std::size_t(l)].data(),
                   kv.v[std::size_t(l)].data(), kv.capacity, 1.0f / std::sqrt(float(D)), att.data(),
                   pool_);
    cpu::linear(att.data(), S, ly.o, o.data(), pool_);
    if (trace) trace("attn_out", l, o.data(), S, H);
    for (std::int64_t i = 0; i < S * H; ++i) x[i] += o[std::size_t(i)];
}

void Qwen3MoeTextModel::moe_block(int l, float* x, std::int64_t S, const Trace& trace) {
    const TextConfig& c = config_.text;
    const Layer& ly = layers_[std::size_t(l)];
    const std::int64_t H = c.hidden_size;
    std::vector<float> h(std::size_t(S * H));
    cpu::rms_norm(x, ly.post_norm.data(), S, H, float(c.rms_norm_eps), h.data());

    // Route: which experts each token uses, with what weight.
    const int K = ly.moe ? c.num_experts_per_tok : 1;
    const std::int64_t E = std::int64_t(ly.experts.size());
    std::vector<int> idx(std::size_t(S * K), 0);
    std::vector<float> wt(std::size_t(S * K), 1.0f);
    if (ly.moe) {
        std::vector<float> logits(std::size_t(S * E));
        cpu::linear(h.data(), S, ly.router, logits.data(), pool_);
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

    std::vector<float> out(std::size_t(S * H), 0.0f);
    std::vector<float> xe, g, u, d;
    for (std::int64_t e = 0; e < E; ++e) {
        const auto& toks = by_expert[std::size_t(e)];
        if (toks.empty()) continue;
        const Expert& ex = ly.experts[std::size_t(e)];
        const std::int64_t n = std::int64_t(toks.size()), F = ex.gate.out_features();
        xe.resize(std::size_t(n * H));
        for (std::int64_t r = 0; r < n; ++r)
            std::memcpy(xe.data() + r * H, h.data() + toks[std::size_t(r)].first * H,
                        std::size_t(H) * sizeof(float));
        g.resize(std::size_t(n * F));
        u.resize(std::size_t(n * F));
        d.resize(std::size_t(n * H));
        cpu::linear(xe.data(), n, ex.gate, g.data(), pool_);
        cpu::linear(xe.data(), n, ex.up, u.data(), pool_);
        for (std::size_t i = 0; i < g.size(); ++i) g[i] = cpu::silu(g[i]) * u[i];
        cpu::linear(g.data(), n, ex.down, d.data(), pool_);
        for (std::int64_t r = 0; r < n; ++r) {
            const auto [tok, w] = toks[std::size_t(r)];
            float* o = out.data() + tok * H;
            const float* dr = d.data() + r * H;
            for (std::int64_t i = 0; i < H; ++i) o[i] += w * dr[i];
        }
    }
    for (std::int64_t i = 0; i < S * H; ++i) x[i] += out[std::size_t(i)];
}

std::vector<float> Qwen3MoeTextModel::forward(std::span<const std::int32_t> ids,
                                              const Positions& pos, KvCache& kv, bool all_logits,
                                              const Trace& trace, const VisualInjection* visual) {
    const TextConfig& c = config_.text;
    const std::int64_t S = std::int64_t(ids.size()), H = c.hidden_size;
    if (S == 0) throw std::invalid_argument("forward: no tokens");
    if (pos.t.size() != ids.size() || pos.h.size() != ids.size() || pos.w.size() != ids.size())
        throw std::invalid_argument("forward: " + std::to_string(ids.size()) +
                                    " tokens but positions for " + std::to_string(pos.t.size()));
    if (kv.k.size() != std::size_t(c.num_layers))
        throw std::invalid_argument("forward: KV cache made for another model");
    std::vector<float> x(std::size_t(S * H));
    for (std::int64_t i = 0; i < S; ++i) {
        const std::int32_t id = ids[std::size_t(i)];
        if (id < 0 || id >= c.vocab_size)
            throw std::invalid_argument("token id " + std::to_string(id) +
                                        " is outside the vocabulary of " +
                                        std::to_string(c.vocab_size));
        const Tensor row = embed_.select(0, id).to_f32();
        std::memcpy(x.data() + i * H, row.data<float>(), std::size_t(H) * sizeof(float));
    }
    std::vector<std::int64_t> image_rows;  // where the image tokens of this pass are
    for (std::int64_t i = 0; i < S; ++i)
        if (ids[std::size_t(i)] == config_.image_token_id) image_rows.push_back(i);
    const std::int64_t n_img = std::int64_t(image_rows.size());
    // Without features, image tokens embed like text (a generated <|image_pad|>, say); the
    // multimodal layer above checks that prompts with images come with their features.
    if (visual && visual->tokens != n_img)
        throw std::invalid_argument("forward: " + std::to_string(n_img) +
                                    " image tokens but features for " +
                                    std::to_string(visual->tokens));
    if (visual)
        for (std::int64_t j = 0; j < n_img; ++j)
            std::memcpy(x.data() + image_rows[std::size_t(j)] * H, visual->merged + j * H,
                        std::size_t(H) * sizeof(float));
    grow(kv, kv.length + S, c.num_kv_heads, c.head_dim);
    for (int l = 0; l < c.num_layers; ++l) {
        if (trace) trace("hidden_in", l, x.data(), S, H);
        attention_block(l, x.data(), S, pos, kv, trace);
        moe_block(l, x.data(), S, trace);
        if (trace) trace("hidden_out", l, x.data(), S, H);  // before DeepStack, as transformers
        if (visual && std::size_t(l) < visual->deepstack.size())
            for (std::int64_t j = 0; j < n_img; ++j) {
                float* row = x.data() + image_rows[std::size_t(j)] * H;
                const float* add = visual->deepstack[std::size_t(l)] + j * H;
                for (std::int64_t k = 0; k < H; ++k) row[k] += add[k];
            }
    }
    kv.length += S;
    const std::int64_t rows = all_logits ? S : 1;
    const float* last = x.data() + (S - rows) * H;
    std::vector<float> hn(std::size_t(rows * H));
    cpu::rms_norm(last, final_norm_.data(), rows, H, float(c.rms_norm_eps), hn.data());
    if (trace) trace("norm_out", -1, hn.data(), rows, H);
    std::vector<float> logits(std::size_t(rows * c.vocab_size));
    cpu::linear(hn.data(), rows, lm_head_, logits.data(), pool_);
    return logits;
}

}  // namespace deskpilot::model::engine
