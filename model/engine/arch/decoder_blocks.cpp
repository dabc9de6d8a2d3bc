#include "model/engine/arch/decoder_blocks.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace deskpilot::model::engine {

Positions Positions::text(std::int64_t start, std::int64_t count) {
    Positions p;
    for (std::int64_t i = 0; i < count; ++i) {
        p.t.push_back(start + i);
        p.h.push_back(start + i);
        p.w.push_back(start + i);
    }
    return p;
}

namespace blocks {

using cpu::Layout;
using cpu::WeightView;

Tensor TensorLoader::need(const std::string& name, const Shape& shape, bool prefixed) const {
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

std::vector<float> TensorLoader::vec(const std::string& name, std::int64_t n) const {
    const Tensor t = need(name, {n}).to_f32();
    return std::vector<float>(t.data<float>(), t.data<float>() + n);
}

std::string text_prefix(const Checkpoint& ck, const std::string& what) {
    for (const char* p : {"model.language_model.", "model."})
        if (ck.has(std::string(p) + "embed_tokens.weight")) return p;
    throw CheckpointError(ck.path().string() +
                          ": no embed_tokens.weight under model.language_model.* or model.* (is "
                          "this a " +
                          what + " checkpoint?)");
}

WeightView lm_head(const TensorLoader& L, const TextConfig& c, const Tensor& embed) {
    if (c.tie_word_embeddings) return WeightView::of(embed, Layout::out_in);
    return WeightView::of(L.need("lm_head.weight", {c.vocab_size, c.hidden_size}, false),
                          Layout::out_in);
}

Attention load_attention(const TensorLoader& L, const TextConfig& c, const std::string& p) {
    const std::int64_t H = c.hidden_size, D = c.head_dim;
    Attention a;
    a.input_norm = L.vec(p + "input_layernorm.weight", H);
    a.q =
        WeightView::of(L.need(p + "self_attn.q_proj.weight", {c.num_heads * D, H}), Layout::out_in);
    a.k = WeightView::of(L.need(p + "self_attn.k_proj.weight", {c.num_kv_heads * D, H}),
                         Layout::out_in);
    a.v = WeightView::of(L.need(p + "self_attn.v_proj.weight", {c.num_kv_heads * D, H}),
                         Layout::out_in);
    a.o =
        WeightView::of(L.need(p + "self_attn.o_proj.weight", {H, c.num_heads * D}), Layout::out_in);
    if (c.attention_bias) {
        a.q_bias = L.vec(p + "self_attn.q_proj.bias", c.num_heads * D);
        a.k_bias = L.vec(p + "self_attn.k_proj.bias", c.num_kv_heads * D);
        a.v_bias = L.vec(p + "self_attn.v_proj.bias", c.num_kv_heads * D);
    }
    if (c.qk_norm) {
        a.q_norm = L.vec(p + "self_attn.q_norm.weight", D);
        a.k_norm = L.vec(p + "self_attn.k_norm.weight", D);
    }
    return a;
}

namespace {

void add_bias(float* y, std::int64_t rows, const std::vector<float>& b) {
    const std::int64_t n = std::int64_t(b.size());
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t i = 0; i < n; ++i) y[r * n + i] += b[std::size_t(i)];
}

}  // namespace

float* scratch(Slot slot, std::size_t n) {
    thread_local std::vector<float> bufs[std::size_t(Slot::count)];
    std::vector<float>& b = bufs[std::size_t(slot)];
    if (b.size() < n) b.resize(n);
    return b.data();
}

void attention(const TextConfig& c, const Attention& w, const cpu::Rope& rope, int l, float* x,
               std::int64_t S, const Positions& pos, KvCache& kv, const Trace& trace,
               cpu::ThreadPool& pool) {
    const std::int64_t H = c.hidden_size, D = c.head_dim, NH = c.num_heads, KH = c.num_kv_heads,
                       half = D / 2;
    const float eps = float(c.rms_norm_eps);
    float* h = scratch(Slot::attn_h, std::size_t(S * H));
    float* q = scratch(Slot::attn_q, std::size_t(S * NH * D));
    float* k = scratch(Slot::attn_k, std::size_t(S * KH * D));
    float* v = scratch(Slot::attn_v, std::size_t(S * KH * D));
    cpu::rms_norm(x, w.input_norm.data(), S, H, eps, h);
    cpu::linear(h, S, w.q, q, pool);
    cpu::linear(h, S, w.k, k, pool);
    cpu::linear(h, S, w.v, v, pool);
    if (!w.q_bias.empty()) {
        add_bias(q, S, w.q_bias);
        add_bias(k, S, w.k_bias);
        add_bias(v, S, w.v_bias);
    }
    if (!w.q_norm.empty()) {
        cpu::rms_norm(q, w.q_norm.data(), S * NH, D, eps, q);
        cpu::rms_norm(k, w.k_norm.data(), S * KH, D, eps, k);
    }
    std::vector<float> cs(static_cast<std::size_t>(half)), sn(static_cast<std::size_t>(half));
    const std::int64_t past = kv.length;
    for (std::int64_t i = 0; i < S; ++i) {
        rope.tables(pos.t[std::size_t(i)], pos.h[std::size_t(i)], pos.w[std::size_t(i)], cs.data(),
                    sn.data());
        cpu::apply_rope(q + i * NH * D, NH, half, cs.data(), sn.data());
        cpu::apply_rope(k + i * KH * D, KH, half, cs.data(), sn.data());
        for (std::int64_t g = 0; g < KH; ++g) {
            const std::size_t dst = std::size_t((g * kv.capacity + past + i) * D);
            std::memcpy(kv.k[std::size_t(l)].data() + dst, k + (i * KH + g) * D,
                        std::size_t(D) * sizeof(float));
            std::memcpy(kv.v[std::size_t(l)].data() + dst, v + (i * KH + g) * D,
                        std::size_t(D) * sizeof(float));
        }
    }
    float* att = scratch(Slot::attn_out, std::size_t(S * NH * D));
    float* o = scratch(Slot::attn_o, std::size_t(S * H));
    cpu::attention(q, S, past, NH, KH, D, kv.k[std::size_t(l)].data(), kv.v[std::size_t(l)].data(),
                   kv.capacity, 1.0f / std::sqrt(float(D)), att, pool);
    cpu::linear(att, S, w.o, o, pool);
    if (trace) trace("attn_out", l, o, S, H);
    for (std::int64_t i = 0; i < S * H; ++i) x[i] += o[i];
}

void swiglu_mlp(const TextConfig& c, const Mlp& w, float* x, std::int64_t S,
                cpu::ThreadPool& pool) {
    const std::int64_t H = c.hidden_size, F = w.gate.out_features();
    std::vector<float> h(std::size_t(S * H)), g(std::size_t(S * F)), u(std::size_t(S * F)),
        d(std::size_t(S * H));
    cpu::rms_norm(x, w.norm.data(), S, H, float(c.rms_norm_eps), h.data());
    cpu::linear(h.data(), S, w.gate, g.data(), pool);
    cpu::linear(h.data(), S, w.up, u.data(), pool);
    cpu::silu_mul(g.data(), u.data(), g.data(), std::int64_t(g.size()));
    cpu::linear(g.data(), S, w.down, d.data(), pool);
    for (std::int64_t i = 0; i < S * H; ++i) x[i] += d[std::size_t(i)];
}

void check_forward(const TextConfig& c, std::span<const std::int32_t> ids, const Positions& pos,
                   const KvCache& kv) {
    if (ids.empty()) throw std::invalid_argument("forward: no tokens");
    if (pos.t.size() != ids.size() || pos.h.size() != ids.size() || pos.w.size() != ids.size())
        throw std::invalid_argument("forward: " + std::to_string(ids.size()) +
                                    " tokens but positions for " + std::to_string(pos.t.size()));
    if (kv.k.size() != std::size_t(c.num_layers))
        throw std::invalid_argument("forward: KV cache made for another model");
}

std::vector<std::int64_t> embed(const ModelConfig& mc, const Tensor& table,
                                std::span<const std::int32_t> ids, const VisualInjection* visual,
                                float* x) {
    const TextConfig& c = mc.text;
    const std::int64_t S = std::int64_t(ids.size()), H = c.hidden_size;
    for (std::int64_t i = 0; i < S; ++i) {
        const std::int32_t id = ids[std::size_t(i)];
        if (id < 0 || id >= c.vocab_size)
            throw std::invalid_argument("token id " + std::to_string(id) +
                                        " is outside the vocabulary of " +
                                        std::to_string(c.vocab_size));
        const Tensor row = table.select(0, id).to_f32();
        std::memcpy(x + i * H, row.data<float>(), std::size_t(H) * sizeof(float));
    }
    std::vector<std::int64_t> image_rows;  // where the image tokens of this pass are
    for (std::int64_t i = 0; i < S; ++i)
        if (ids[std::size_t(i)] == mc.image_token_id) image_rows.push_back(i);
    const std::int64_t n_img = std::int64_t(image_rows.size());
    // Without features, image tokens embed like text (a generated <|image_pad|>, say); the
    // multimodal layer above checks that prompts with images come with their features.
    if (visual && visual->tokens != n_img)
        throw std::invalid_argument("forward: " + std::to_string(n_img) +
                                    " image tokens but features for " +
                                    std::to_string(visual->tokens));
    if (visual)
        for (std::int64_t j = 0; j < n_img; ++j)
            std::memcpy(x + image_rows[std::size_t(j)] * H, visual->merged + j * H,
                        std::size_t(H) * sizeof(float));
    return image_rows;
}

KvCache new_cache(const TextConfig& c, std::int64_t capacity) {
    KvCache kv;
    kv.capacity = std::max<std::int64_t>(1, capacity);
    const std::size_t n = std::size_t(c.num_kv_heads * kv.capacity * c.head_dim);
    kv.k.assign(std::size_t(c.num_layers), std::vector<float>(n));
    kv.v.assign(std::size_t(c.num_layers), std::vector<float>(n));
    return kv;
}

void reserve(KvCache& kv, std::int64_t needed, std::int64_t kv_heads, std::int64_t d) {
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

std::vector<float> logits(const TextConfig& c, const std::vector<float>& final_norm,
                          const WeightView& head, const float* x, std::int64_t S, bool all,
                          const Trace& trace, cpu::ThreadPool& pool) {
    const std::int64_t H = c.hidden_size, rows = all ? S : 1;
    const float* last = x + (S - rows) * H;
    std::vector<float> hn(std::size_t(rows * H));
    cpu::rms_norm(last, final_norm.data(), rows, H, float(c.rms_norm_eps), hn.data());
    if (trace) trace("norm_out", -1, hn.data(), rows, H);
    std::vector<float> out(std::size_t(rows * c.vocab_size));
    cpu::linear(hn.data(), rows, head, out.data(), pool);
    return out;
}

}  // namespace blocks
}  // namespace deskpilot::model::engine
