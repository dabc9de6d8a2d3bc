// config.json of the supported checkpoints → ModelConfig, with the constraints the engine
// relies on checked up front (a wrong rotary section would silently ruin the model).
//   qwen3_vl_moe  Qwen3-VL-MoE (e.g. Qwen3-VL-30B-A3B): text_config + vision_config
//   qwen3_moe     the same text decoder without vision, fields at the top level
//   qwen2_5_vl    Qwen2.5-VL / UI-TARS-1.5 (dense decoder, q/k/v biases, chunked MRoPE)
// Both rotary spellings are read: `rope_scaling` (+ `rope_theta` beside it) and the newer
// `rope_parameters` holding rope_theta itself; `type` and `rope_type` alike.
#pragma once

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace deskpilot::model::engine {

class ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

enum class Architecture { qwen3_vl_moe, qwen3_moe, qwen2_5_vl };
const char* architecture_name(Architecture a);

struct TextConfig {
    int vocab_size = 0;
    int hidden_size = 0;
    int num_layers = 0;
    int num_heads = 0;
    int num_kv_heads = 0;
    int head_dim = 0;
    int intermediate_size = 0;      // dense MLP width (qwen2_5_vl; MoE models' mlp_only_layers)
    int moe_intermediate_size = 0;  // expert width
    int num_experts = 0;            // 0: dense model
    int num_experts_per_tok = 0;
    int decoder_sparse_step = 1;
    std::vector<int> mlp_only_layers;
    bool norm_topk_prob = true;  // renormalise the top-k router weights
    double rms_norm_eps = 1e-6;
    double rope_theta = 10000.0;
    std::vector<int> mrope_section;  // empty: plain 1-D rotary
    bool mrope_interleaved = false;
    bool qk_norm = false;         // per-head RMSNorm on q and k (Qwen3)
    bool attention_bias = false;  // q/k/v biases (Qwen2)
    bool tie_word_embeddings = false;
    int max_position_embeddings = 0;

    // Whether layer `layer` has a sparse MoE block (transformers' rule).
    bool is_moe_layer(int layer) const;
};

struct VisionConfig {
    int depth = 0;
    int hidden_size = 0;
    int num_heads = 0;
    int intermediate_size = 0;
    int patch_size = 0;
    int temporal_patch_size = 0;
    int spatial_merge_size = 0;
    int out_hidden_size = 0;
    int num_position_embeddings = 0;            // qwen3_vl_moe: learned position table size
    double rope_theta = 10000.0;                // the 2-D vision rotary's base
    bool gelu_tanh = true;                      // hidden_act gelu_pytorch_tanh (else exact gelu)
    std::vector<int> deepstack_visual_indexes;  // qwen3_vl_moe
    int window_size = 0;                        // qwen2_5_vl
    std::vector<int> fullatt_block_indexes;     // qwen2_5_vl
};

struct ModelConfig {
    Architecture architecture = Architecture::qwen3_vl_moe;
    TextConfig text;
    std::optional<VisionConfig> vision;
    int image_token_id = 151655;
    int video_token_id = 151656;
    int vision_start_token_id = 151652;
    int vision_end_token_id = 151653;
};

// `label` names the input in errors (a path, usually). Throws ConfigError.
ModelConfig parse_model_config(const std::string& json_text, const std::string& label);
// Reads DIR/config.json (or the file itself when given one).
ModelConfig load_model_config(const std::filesystem::path& path);

}  // namespace deskpilot::model::engine
