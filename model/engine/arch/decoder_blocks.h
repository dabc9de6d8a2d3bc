// The blocks the decoder recipes are made of (as llama.cpp's build_norm/build_attn/build_ffn):
// each a short function over the CPU ops, shared by Qwen3-VL-MoE and Qwen2.5-VL, so an
// architecture file only says which blocks it stacks and where its tensors are.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model/engine/arch/text_decoder.h"
#include "model/engine/cpu/linear.h"
#include "model/engine/cpu/ops.h"

namespace deskpilot::model::engine::blocks {

// Tensors of a checkpoint under one prefix, checked against the shapes the config implies;
// errors name the checkpoint and the tensor.
class TensorLoader {
  public:
    TensorLoader(const Checkpoint& c, std::string prefix) : ckpt_(c), prefix_(std::move(prefix)) {}
    Tensor need(const std::string& name, const Shape& shape, bool prefixed = true) const;
    std::vector<float> vec(const std::string& name, std::int64_t n) const;
    bool has(const std::string& name) const { return ckpt_.has(prefix_ + name); }
    const Checkpoint& checkpoint() const { return ckpt_; }

  private:
    const Checkpoint& ckpt_;
    std::string prefix_;
};

// Where the decoder's tensors live: "model.language_model." (transformers 5 layout) or "model."
// (Hub checkpoints such as UI-TARS-1.5). Throws CheckpointError mentioning `what`.
std::string text_prefix(const Checkpoint& checkpoint, const std::string& what);

// The output projection: lm_head.weight, or the embedding table when the config ties them.
cpu::WeightView lm_head(const TensorLoader& loader, const TextConfig& c, const Tensor& embed);

struct Attention {
    std::vector<float> input_norm;
    cpu::WeightView q, k, v, o;
    std::vector<float> q_bias, k_bias, v_bias;  // empty: no bias (Qwen3)
    std::vector<float> q_norm, k_norm;          // empty: no per-head norm (Qwen2.5)
};
// layers.N.{input_layernorm, self_attn.*}, with biases/q-k norms as the config says.
Attention load_attention(const TensorLoader& loader, const TextConfig& c, const std::string& layer);

// Per-thread f32 scratch buffers that keep their pages from call to call: a prefill's buffers
// are MBs, and fresh vectors per layer paid page faults and zero-filling each time. Contents
// are undefined on return. Each slot is one buffer; the MoE block runs after attention is done
// with its buffers and reuses them (peak memory as with per-layer vectors), so no two buffers
// alive at once share a slot.
enum class Slot {
    attn_h,
    attn_q,
    attn_k,
    attn_v,
    attn_out,
    attn_o,
    count,
    moe_h = attn_h,
    moe_out = attn_o,
    moe_x = attn_k,
    moe_g = attn_v,
    moe_u = attn_q,
    moe_d = attn_out
};
float* scratch(Slot slot, std::size_t n);

// x += o(attn(rope(qk_norm(qkv(rms(x)) + bias)))), causal over the cache; the new keys and
// values go to kv at kv.length.. (the cache must have room: reserve()). Traces "attn_out".
void attention(const TextConfig& c, const Attention& w, const cpu::Rope& rope, int layer, float* x,
               std::int64_t S, const Positions& pos, KvCache& kv, const Trace& trace,
               cpu::ThreadPool& pool);

struct Mlp {
    std::vector<float> norm;  // post_attention_layernorm
    cpu::WeightView gate, up, down;
};
// x += down(silu(gate(h)) · up(h)), h = rms(x).
void swiglu_mlp(const TextConfig& c, const Mlp& w, float* x, std::int64_t S, cpu::ThreadPool& pool);

// Checks ids/positions/cache agree; throws std::invalid_argument otherwise.
void check_forward(const TextConfig& c, std::span<const std::int32_t> ids, const Positions& pos,
                   const KvCache& kv);
// Token embeddings into x [S, hidden], then the image features over the image tokens' rows;
// returns those rows.
std::vector<std::int64_t> embed(const ModelConfig& mc, const Tensor& table,
                                std::span<const std::int32_t> ids, const VisualInjection* visual,
                                float* x);

KvCache new_cache(const TextConfig& c, std::int64_t capacity);
// Grows kv (keeping what it holds) so it has room for `needed` tokens.
void reserve(KvCache& kv, std::int64_t needed, std::int64_t kv_heads, std::int64_t d);

// Final RMSNorm of the last row (all rows if `all`) and the logits; traces "norm_out".
std::vector<float> logits(const TextConfig& c, const std::vector<float>& final_norm,
                          const cpu::WeightView& head, const float* x, std::int64_t S, bool all,
                          const Trace& trace, cpu::ThreadPool& pool);

}  // namespace deskpilot::model::engine::blocks
