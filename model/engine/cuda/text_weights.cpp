#include "model/engine/cuda/text_weights.h"

#include "model/engine/cuda/random_weights.h"
#include "model/engine/dtype.h"

namespace deskpilot::model::cuda {

using engine::cpu::Layout;

namespace {

DeviceBuffer f32_buffer(const engine::Tensor& t, const std::string& name) {
    const engine::Tensor f = t.to_f32();
    DeviceBuffer b(std::size_t(f.numel()) * sizeof(float), name);
    b.upload(f.data<float>(), b.bytes());
    return b;
}

// Copies a checkpoint tensor (any dtype) to `dst` at byte `offset` as bf16.
void upload_bf16(DeviceBuffer& dst, std::size_t offset, const engine::Tensor& t) {
    const engine::Tensor c = t.is_contiguous() ? t : t.copy_contiguous();
    if (c.dtype() == engine::DType::BF16) {
        dst.upload(c.raw(), c.nbytes(), offset);
        return;
    }
    const engine::Tensor f = c.to_f32();
    std::vector<std::uint16_t> bf(std::size_t(f.numel()));
    for (std::size_t i = 0; i < bf.size(); ++i) bf[i] = engine::f32_to_bf16(f.data<float>()[i]);
    dst.upload(bf.data(), bf.size() * 2, offset);
}

DeviceBuffer bf16_buffer(const engine::Tensor& t, const std::string& name) {
    DeviceBuffer b(std::size_t(t.numel()) * 2, name);
    upload_bf16(b, 0, t);
    return b;
}

}  // namespace

TextWeights upload_text_weights(const engine::ModelConfig& config, const engine::Checkpoint& ck,
                                const std::string& P, bool fused_experts) {
    const auto& c = config.text;
    auto get = [&](const std::string& name) { return ck.get(P + name); };
    auto vec = [&](const std::string& name) { return f32_buffer(get(name), name); };
    TextWeights w;
    w.embed = bf16_buffer(get("embed_tokens.weight"), "embed_tokens.weight");
    w.final_norm = vec("norm.weight");
    w.tied = c.tie_word_embeddings;
    if (!w.tied) w.lm_head = bf16_buffer(ck.get("lm_head.weight"), "lm_head.weight");
    const std::int64_t H = c.hidden_size;
    for (int l = 0; l < c.num_layers; ++l) {
        const std::string p = "layers." + std::to_string(l) + ".";
        LayerWeights ly;
        ly.input_norm = vec(p + "input_layernorm.weight");
        ly.post_norm = vec(p + "post_attention_layernorm.weight");
        if (c.qk_norm) {
            ly.q_norm = vec(p + "self_attn.q_norm.weight");
            ly.k_norm = vec(p + "self_attn.k_norm.weight");
        }
        if (c.attention_bias) {
            ly.q_bias = vec(p + "self_attn.q_proj.bias");
            ly.k_bias = vec(p + "self_attn.k_proj.bias");
            ly.v_bias = vec(p + "self_attn.v_proj.bias");
        }
        for (auto [buf, n] : {std::pair{&ly.q, "q_proj"}, std::pair{&ly.k, "k_proj"},
                              std::pair{&ly.v, "v_proj"}, std::pair{&ly.o, "o_proj"}})
            *buf = bf16_buffer(get(p + "self_attn." + n + ".weight"), p + "self_attn." + n);
        ly.moe = c.is_moe_layer(l);
        if (ly.moe && fused_experts) {
            ly.router = bf16_buffer(get(p + "mlp.gate.weight"), p + "mlp.gate.weight");
            ly.layout = Layout::in_out;
            ly.experts = c.num_experts;
            ly.width = c.moe_intermediate_size;
            ly.gate_up =
                bf16_buffer(get(p + "mlp.experts.gate_up_proj"), p + "mlp.experts.gate_up_proj");
            ly.down = bf16_buffer(get(p + "mlp.experts.down_proj"), p + "mlp.experts.down_proj");
        } else {
            ly.layout = Layout::out_in;
            ly.experts = ly.moe ? c.num_experts : 1;
            ly.width = ly.moe ? c.moe_intermediate_size : c.intermediate_size;
            if (ly.moe) ly.router = bf16_buffer(get(p + "mlp.gate.weight"), p + "mlp.gate.weight");
            const std::int64_t E = ly.experts, F = ly.width;
            ly.gate_up = DeviceBuffer(std::size_t(E * 2 * F * H) * 2, p + "mlp experts gate/up");
            ly.down = DeviceBuffer(std::size_t(E * H * F) * 2, p + "mlp experts down");
            for (std::int64_t e = 0; e < E; ++e) {
                const std::string q =
                    ly.moe ? p + "mlp.experts." + std::to_string(e) + "." : p + "mlp.";
                const std::size_t gu = std::size_t(e * 2 * F * H) * 2,
                                  half = std::size_t(F * H) * 2;
                upload_bf16(ly.gate_up, gu, get(q + "gate_proj.weight"));
                upload_bf16(ly.gate_up, gu + half, get(q + "up_proj.weight"));
                upload_bf16(ly.down, std::size_t(e * H * F) * 2, get(q + "down_proj.weight"));
            }
        }
        w.layers.push_back(std::move(ly));
    }
    return w;
}

TextWeights synthetic_text_weights(const engine::ModelConfig& config, std::uint64_t seed,
                                   const Stream& stream) {
    const auto& c = config.text;
    const std::int64_t H = c.hidden_size, D = c.head_dim;
    RandomWeights random(seed, stream);
    auto rnd = [&](std::int64_t count, std::int64_t fan_in, const std::string& name) {
        return random.bf16(count, fan_in, name);
    };
    auto fill = [&](std::int64_t count, float value, const std::string& name) {
        return random.f32(count, value, name);
    };
    TextWeights w;
    w.embed = rnd(std::int64_t(c.vocab_size) * H, 1, "embed_tokens");
    w.final_norm = fill(H, 1.0f, "norm");
    w.tied = c.tie_word_embeddings;
    if (!w.tied) w.lm_head = rnd(std::int64_t(c.vocab_size) * H, H, "lm_head");
    for (int l = 0; l < c.num_layers; ++l) {
        const std::string p = "layer " + std::to_string(l) + " ";
        LayerWeights ly;
        ly.input_norm = fill(H, 1.0f, p + "input_norm");
        ly.post_norm = fill(H, 1.0f, p + "post_norm");
        if (c.qk_norm) {
            ly.q_norm = fill(D, 1.0f, p + "q_norm");
            ly.k_norm = fill(D, 1.0f, p + "k_norm");
        }
        if (c.attention_bias) {
            ly.q_bias = fill(c.num_heads * D, 0.0f, p + "q_bias");
            ly.k_bias = fill(c.num_kv_heads * D, 0.0f, p + "k_bias");
            ly.v_bias = fill(c.num_kv_heads * D, 0.0f, p + "v_bias");
        }
        ly.q = rnd(c.num_heads * D * H, H, p + "q");
        ly.k = rnd(c.num_kv_heads * D * H, H, p + "k");
        ly.v = rnd(c.num_kv_heads * D * H, H, p + "v");
        ly.o = rnd(c.num_heads * D * H, c.num_heads * D, p + "o");
        ly.moe = c.is_moe_layer(l);
        // MoE experts in the Hub-fused layout of Qwen3-VL-MoE checkpoints; a dense MLP as the
        // packed [gate | up] rows of the per-tensor checkpoints (Qwen2.5-VL).
        ly.layout = ly.moe ? Layout::in_out : Layout::out_in;
        ly.experts = ly.moe ? c.num_experts : 1;
        ly.width = ly.moe ? c.moe_intermediate_size : c.intermediate_size;
        if (ly.moe) ly.router = rnd(c.num_experts * H, H, p + "router");
        ly.gate_up = rnd(ly.experts * H * 2 * ly.width, H, p + "gate_up");
        ly.down = rnd(ly.experts * ly.width * H, ly.width, p + "down");
        w.layers.push_back(std::move(ly));
    }
    return w;
}

std::size_t weight_bytes(const TextWeights& w) {
    std::size_t n = w.embed.bytes() + w.lm_head.bytes() + w.final_norm.bytes();
    for (const auto& ly : w.layers)
        for (const DeviceBuffer* b :
             {&ly.input_norm, &ly.post_norm, &ly.q_norm, &ly.k_norm, &ly.q_bias, &ly.k_bias,
              &ly.v_bias, &ly.q, &ly.k, &ly.v, &ly.o, &ly.router, &ly.gate_up, &ly.down})
            n += b->bytes();
    return n;
}

}  // namespace deskpilot::model::cuda
