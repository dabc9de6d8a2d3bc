#include "model/engine/arch/qwen2_5_vl.h"

namespace deskpilot::model::engine {

using cpu::Layout;
using cpu::WeightView;

Qwen25TextModel::Qwen25TextModel(ModelConfig config, std::shared_ptr<const Checkpoint> checkpoint,
                                 cpu::ThreadPool& pool)
    : config_(std::move(config)),
      checkpoint_(std::move(checkpoint)),
      pool_(pool),
      rope_(config_.text.head_dim, config_.text.rope_theta, config_.text.mrope_section,
            config_.text.mrope_interleaved) {
    const TextConfig& c = config_.text;
    if (config_.architecture != Architecture::qwen2_5_vl)
        throw ConfigError(std::string("the Qwen2.5-VL decoder does not run ") +
                          architecture_name(config_.architecture) + " checkpoints");
    if (c.mrope_interleaved)
        throw ConfigError("qwen2_5_vl: interleaved MRoPE is not Qwen2.5-VL's (chunked) layout");
    prefix_ = blocks::text_prefix(*checkpoint_, "Qwen2.5-VL");
    const blocks::TensorLoader L(*checkpoint_, prefix_);
    const std::int64_t H = c.hidden_size, F = c.intermediate_size;
    embed_ = L.need("embed_tokens.weight", {c.vocab_size, H});
    final_norm_ = L.vec("norm.weight", H);
    lm_head_ = blocks::lm_head(L, c, embed_);
    for (int l = 0; l < c.num_layers; ++l) {
        const std::string p = "layers." + std::to_string(l) + ".";
        Layer ly;
        ly.attn = blocks::load_attention(L, c, p);
        ly.mlp.norm = L.vec(p + "post_attention_layernorm.weight", H);
        ly.mlp.gate = WeightView::of(L.need(p + "mlp.gate_proj.weight", {F, H}), Layout::out_in);
        ly.mlp.up = WeightView::of(L.need(p + "mlp.up_proj.weight", {F, H}), Layout::out_in);
        ly.mlp.down = WeightView::of(L.need(p + "mlp.down_proj.weight", {H, F}), Layout::out_in);
        layers_.push_back(std::move(ly));
    }
}

KvCache Qwen25TextModel::new_cache(std::int64_t capacity) const {
    return blocks::new_cache(config_.text, capacity);
}

std::vector<float> Qwen25TextModel::forward(std::span<const std::int32_t> ids, const Positions& pos,
                                            KvCache& kv, bool all_logits, const Trace& trace,
                                            const VisualInjection* visual) {
    const TextConfig& c = config_.text;
    blocks::check_forward(c, ids, pos, kv);
    if (visual && !visual->deepstack.empty())
        throw std::invalid_argument("Qwen2.5-VL has no DeepStack features");
    const std::int64_t S = std::int64_t(ids.size()), H = c.hidden_size;
    std::vector<float> x(std::size_t(S * H));
    blocks::embed(config_, embed_, ids, visual, x.data());
    blocks::reserve(kv, kv.length + S, c.num_kv_heads, c.head_dim);
    for (int l = 0; l < c.num_layers; ++l) {
        if (trace) trace("hidden_in", l, x.data(), S, H);
        const Layer& ly = layers_[std::size_t(l)];
        blocks::attention(c, ly.attn, rope_, l, x.data(), S, pos, kv, trace, pool_);
        blocks::swiglu_mlp(c, ly.mlp, x.data(), S, pool_);
        if (trace) trace("hidden_out", l, x.data(), S, H);
    }
    kv.length += S;
    return blocks::logits(c, final_norm_, lm_head_, x.data(), S, all_logits, trace, pool_);
}

}  // namespace deskpilot::model::engine
