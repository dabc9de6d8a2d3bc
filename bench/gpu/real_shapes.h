// The two models the CUDA benchmarks stand in for, as engine::ModelConfig at their real shapes
// (the values their Hub config.json files give, as model/engine/config.cpp reads them; see
// shared REFERENCE.md §2 and §3), with the depths as parameters so a quick run can shrink them.
//   Qwen3-VL-30B-A3B   text: 48 MoE layers, hidden 2048, 32/4 heads × 128, 128 experts top-8 of
//                      width 768, vocab 151936; vision: 27 blocks, hidden 1152, 16 heads, MLP 4304
//                      (GELU tanh), patch 16, merge 2, out 2048, 48×48 position table, DeepStack
//                      after blocks 8, 16, 24
//   UI-TARS-1.5-7B     text (Qwen2.5-VL-7B): 28 dense layers, hidden 3584, 28/4 heads × 128, MLP
//                      18944, q/k/v biases, vocab 152064; vision: 32 blocks, hidden 1280, 16
//                      heads, SwiGLU 3420, patch 14, merge 2, out 3584, 112-px windows, full
//                      attention in blocks 7, 15, 23, 31
// A shrunk vision depth keeps the DeepStack and full-attention blocks that still exist.
#pragma once

#include <algorithm>
#include <vector>

#include "model/engine/config.h"

namespace deskpilot::bench::gpu {

namespace engine = model::engine;

inline std::vector<int> below(std::vector<int> blocks, int depth) {
    blocks.erase(std::remove_if(blocks.begin(), blocks.end(), [&](int b) { return b >= depth; }),
                 blocks.end());
    return blocks;
}

// `layers` decoder layers (48 real), `depth` vision blocks (27 real).
inline engine::ModelConfig qwen3_vl_30b_a3b(int layers = 48, int depth = 27) {
    engine::ModelConfig c;
    c.architecture = engine::Architecture::qwen3_vl_moe;
    auto& t = c.text;
    t.vocab_size = 151936;
    t.hidden_size = 2048;
    t.num_layers = layers;
    t.num_heads = 32;
    t.num_kv_heads = 4;
    t.head_dim = 128;
    t.intermediate_size = 6144;
    t.moe_intermediate_size = 768;
    t.num_experts = 128;
    t.num_experts_per_tok = 8;
    t.norm_topk_prob = true;
    t.rms_norm_eps = 1e-6;
    t.rope_theta = 5e6;
    t.mrope_section = {24, 20, 20};
    t.mrope_interleaved = true;
    t.qk_norm = true;
    t.max_position_embeddings = 262144;
    engine::VisionConfig v;
    v.depth = depth;
    v.hidden_size = 1152;
    v.num_heads = 16;
    v.intermediate_size = 4304;
    v.patch_size = 16;
    v.temporal_patch_size = 2;
    v.spatial_merge_size = 2;
    v.out_hidden_size = 2048;
    v.num_position_embeddings = 48 * 48;
    v.rope_theta = 10000.0;
    v.gelu_tanh = true;
    v.deepstack_visual_indexes = below({8, 16, 24}, depth);
    c.vision = v;
    return c;  // image 151655, vision start/end 151652/151653: ModelConfig's defaults
}

// UI-TARS-1.5-7B (Qwen2.5-VL-7B): `layers` decoder layers (28 real), `depth` vision blocks (32).
inline engine::ModelConfig ui_tars_1_5_7b(int layers = 28, int depth = 32) {
    engine::ModelConfig c;
    c.architecture = engine::Architecture::qwen2_5_vl;
    auto& t = c.text;
    t.vocab_size = 152064;
    t.hidden_size = 3584;
    t.num_layers = layers;
    t.num_heads = 28;
    t.num_kv_heads = 4;
    t.head_dim = 128;
    t.intermediate_size = 18944;
    t.rms_norm_eps = 1e-6;
    t.rope_theta = 1e6;
    t.mrope_section = {16, 24, 24};
    t.mrope_interleaved = false;
    t.attention_bias = true;
    t.qk_norm = false;
    t.max_position_embeddings = 128000;
    engine::VisionConfig v;
    v.depth = depth;
    v.hidden_size = 1280;
    v.num_heads = 16;
    v.intermediate_size = 3420;
    v.patch_size = 14;
    v.temporal_patch_size = 2;
    v.spatial_merge_size = 2;
    v.out_hidden_size = 3584;
    v.rope_theta = 10000.0;
    v.window_size = 112;
    v.fullatt_block_indexes = below({7, 15, 23, 31}, depth);
    c.vision = v;
    return c;
}

}  // namespace deskpilot::bench::gpu
