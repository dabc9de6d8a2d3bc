// The CUDA text decoder's weights on the device, one recipe for both decoders the engine runs:
// Qwen3(-VL)-MoE (per-head q/k RMSNorm, MoE layers, no biases) and Qwen2.5-VL (q/k/v biases, no
// q/k norm, dense SwiGLU). Which parts a layer has follows the config (TextConfig::qk_norm,
// attention_bias, is_moe_layer), as engine::blocks::load_attention does on the CPU; only the
// tensors' prefix and the experts' layout come from the CPU model that validated the checkpoint.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/engine/config.h"
#include "model/engine/cpu/linear.h"
#include "model/engine/cuda/buffer.h"
#include "model/engine/safetensors.h"

namespace deskpilot::model::cuda {

struct LayerWeights {
    DeviceBuffer input_norm, post_norm;   // f32
    DeviceBuffer q_norm, k_norm;          // f32 [head_dim]; empty without qk_norm
    DeviceBuffer q_bias, k_bias, v_bias;  // f32; empty without attention_bias
    DeviceBuffer q, k, v, o;              // bf16, out_in
    bool moe = false;
    DeviceBuffer router;  // bf16 [E, H]
    // Experts back to back. in_out (Hub-fused): gate_up [E][H][2F], down [E][F][H]; out_in
    // (per-expert tensors, packed here): gate_up [E][2F][H] (gate rows, then up), down [E][H][F].
    // A dense layer is one expert.
    DeviceBuffer gate_up, down;
    engine::cpu::Layout layout = engine::cpu::Layout::out_in;
    std::int64_t experts = 1, width = 0;  // E, F
};

struct TextWeights {
    DeviceBuffer embed, lm_head, final_norm;  // lm_head empty when tied to embed
    bool tied = false;
    std::vector<LayerWeights> layers;
};

// Uploads the decoder's tensors under `prefix` (e.g. "model.language_model."), as bf16 (norms and
// biases f32). `fused_experts`: MoE experts stored Hub-fused (mlp.experts.gate_up_proj, in_out)
// rather than per expert. Throws CudaError on out of memory, naming the tensor.
TextWeights upload_text_weights(const engine::ModelConfig& config, const engine::Checkpoint& ck,
                                const std::string& prefix, bool fused_experts);

// Random bf16 weights at the config's shapes, generated on the device on `stream` (benchmarks,
// cuda/random_weights.h); norms are ones, biases zeros.
TextWeights synthetic_text_weights(const engine::ModelConfig& config, std::uint64_t seed,
                                   const Stream& stream);

// Bytes of all the weights.
std::size_t weight_bytes(const TextWeights& w);

}  // namespace deskpilot::model::cuda
