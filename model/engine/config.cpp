#include "model/engine/config.h"

#include <fstream>
#include <numeric>
#include <sstream>

#include <nlohmann/json.hpp>

namespace deskpilot::model::engine {

using json = nlohmann::json;

const char* architecture_name(Architecture a) {
    switch (a) {
        case Architecture::qwen3_vl_moe:
            return "qwen3_vl_moe";
        case Architecture::qwen3_moe:
            return "qwen3_moe";
        case Architecture::qwen2_5_vl:
            return "qwen2_5_vl";
    }
    return "?";
}

bool TextConfig::is_moe_layer(int layer) const {
    for (int l : mlp_only_layers)
        if (l == layer) return false;
    return num_experts > 0 && decoder_sparse_step > 0 && (layer + 1) % decoder_sparse_step == 0;
}

namespace {

class Reader {
  public:
    Reader(const json& j, std::string label, std::string where)
        : j_(j), label_(std::move(label)), where_(std::move(where)) {}

    [[noreturn]] void fail(const std::string& what) const {
        throw ConfigError(label_ + ": " + (where_.empty() ? "" : where_ + ".") + what);
    }

    bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }

    int integer(const char* key, std::optional<int> fallback = std::nullopt) const {
        if (!has(key)) {
            if (fallback) return *fallback;
            fail(std::string(key) + " is missing");
        }
        const json& v = j_[key];
        if (!v.is_number_integer()) fail(std::string(key) + " must be an integer, not " + v.dump());
        const auto n = v.get<long long>();
        if (n < INT32_MIN || n > INT32_MAX)
            fail(std::string(key) + " is out of range: " + v.dump());
        return int(n);
    }

    int positive(const char* key, std::optional<int> fallback = std::nullopt) const {
        const int n = integer(key, fallback);
        if (n <= 0) fail(std::string(key) + " must be positive, not " + std::to_string(n));
        return n;
    }

    double number(const char* key, std::optional<double> fallback = std::nullopt) const {
        if (!has(key)) {
            if (fallback) return *fallback;
            fail(std::string(key) + " is missing");
        }
        if (!j_[key].is_number())
            fail(std::string(key) + " must be a number, not " + j_[key].dump());
        return j_[key].get<double>();
    }

    bool boolean(const char* key, bool fallback) const {
        if (!has(key)) return fallback;
        if (!j_[key].is_boolean())
            fail(std::string(key) + " must be true or false, not " + j_[key].dump());
        return j_[key].get<bool>();
    }

    std::vector<int> int_list(const char* key) const {
        std::vector<int> out;
        if (!has(key)) return out;
        if (!j_[key].is_array()) fail(std::string(key) + " must be a list of integers");
        for (const auto& v : j_[key]) {
            if (!v.is_number_integer())
                fail(std::string(key) + " must be a list of integers, not " + j_[key].dump());
            out.push_back(v.get<int>());
        }
        return out;
    }

    Reader child(const char* key) const {
        if (!has(key) || !j_[key].is_object())
            fail(std::string(key) + " is missing or not an object");
        return Reader(j_[key], label_, where_.empty() ? key : where_ + "." + key);
    }

    const json& raw() const { return j_; }
    const std::string& label() const { return label_; }

  private:
    const json& j_;
    std::string label_;
    std::string where_;
};

// Reads rope_theta and the MRoPE section from either spelling.
void read_rope(const Reader& r, TextConfig& t, bool want_mrope) {
    const bool has_params = r.has("rope_parameters");
    const bool has_scaling = r.has("rope_scaling");
    std::optional<Reader> rope;
    if (has_params)
        rope.emplace(r.child("rope_parameters"));
    else if (has_scaling)
        rope.emplace(r.child("rope_scaling"));

    if (rope && rope->has("rope_theta"))
        t.rope_theta = rope->number("rope_theta");
    else
        t.rope_theta = r.number("rope_theta", 10000.0);
    if (!(t.rope_theta > 0)) r.fail("rope_theta must be positive");

    if (rope) {
        std::string type;
        for (const char* key : {"rope_type", "type"})
            if (rope->has(key)) type = rope->raw()[key].get<std::string>();
        if (!type.empty() && type != "default" && type != "mrope")
            rope->fail("rope type '" + type + "' is not supported (default and mrope are)");
        t.mrope_section = rope->int_list("mrope_section");
        t.mrope_interleaved = rope->boolean("mrope_interleaved", false);
    }
    if (want_mrope && t.mrope_section.empty())
        r.fail("mrope_section is missing from rope_parameters/rope_scaling");
}

void read_text(const Reader& r, Architecture arch, TextConfig& t) {
    t.vocab_size = r.positive("vocab_size");
    t.hidden_size = r.positive("hidden_size");
    t.num_layers = r.positive("num_hidden_layers");
    t.num_heads = r.positive("num_attention_heads");
    t.num_kv_heads = r.positive("num_key_value_heads", t.num_heads);
    if (r.has("head_dim"))
        t.head_dim = r.positive("head_dim");
    else {
        if (t.hidden_size % t.num_heads != 0)
            r.fail(
                "hidden_size is not a multiple of num_attention_heads and head_dim is not given");
        t.head_dim = t.hidden_size / t.num_heads;
    }
    t.rms_norm_eps = r.number("rms_norm_eps", 1e-6);
    t.max_position_embeddings = r.integer("max_position_embeddings", 0);
    t.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
    if (arch == Architecture::qwen2_5_vl) {
        t.intermediate_size = r.positive("intermediate_size");
        t.attention_bias = true;  // Qwen2 attention always has q/k/v biases
        t.qk_norm = false;
        read_rope(r, t, true);
    } else {
        t.qk_norm = true;
        t.attention_bias = r.boolean("attention_bias", false);
        t.intermediate_size = r.integer("intermediate_size", 0);
        t.moe_intermediate_size = r.positive("moe_intermediate_size");
        t.num_experts =
            r.has("num_experts") ? r.positive("num_experts") : r.positive("num_local_experts");
        t.num_experts_per_tok = r.positive("num_experts_per_tok");
        t.decoder_sparse_step = r.positive("decoder_sparse_step", 1);
        t.mlp_only_layers = r.int_list("mlp_only_layers");
        // qwen3_vl_moe always renormalises; qwen3_moe says so in norm_topk_prob.
        t.norm_topk_prob =
            arch == Architecture::qwen3_moe ? r.boolean("norm_topk_prob", false) : true;
        read_rope(r, t, arch == Architecture::qwen3_vl_moe);
    }
}

void check_text(const Reader& r, const TextConfig& t) {
    if (t.num_heads % t.num_kv_heads != 0)
        r.fail("num_attention_heads (" + std::to_string(t.num_heads) +
               ") is not a multiple of num_key_value_heads (" + std::to_string(t.num_kv_heads) +
               ")");
    if (t.head_dim % 2 != 0)
        r.fail("head_dim must be even for rotary embeddings, not " + std::to_string(t.head_dim));
    if (!(t.rms_norm_eps > 0)) r.fail("rms_norm_eps must be positive");
    if (t.num_experts > 0 && t.num_experts_per_tok > t.num_experts)
        r.fail("num_experts_per_tok (" + std::to_string(t.num_experts_per_tok) +
               ") exceeds num_experts (" + std::to_string(t.num_experts) + ")");
    for (int l : t.mlp_only_layers)
        if (l < 0 || l >= t.num_layers)
            r.fail("mlp_only_layers names layer " + std::to_string(l) + ", which does not exist");
    for (int l = 0; l < t.num_layers; ++l)
        if (!t.is_moe_layer(l) && t.intermediate_size <= 0 && t.num_experts > 0)
            r.fail("layer " + std::to_string(l) + " is dense but intermediate_size is not given");
    if (!t.mrope_section.empty()) {
        if (t.mrope_section.size() != 3) r.fail("mrope_section must have 3 entries (T, H, W)");
        for (int s : t.mrope_section)
            if (s < 0) r.fail("mrope_section entries must not be negative");
        const int sum = std::accumulate(t.mrope_section.begin(), t.mrope_section.end(), 0);
        if (sum != t.head_dim / 2)
            r.fail("mrope_section sums to " + std::to_string(sum) + " but head_dim/2 is " +
                   std::to_string(t.head_dim / 2));
        // Interleaved: H takes frequencies 1,4,7,… below 3·section[1], W 2,5,8,… below
        // 3·section[2].
        if (t.mrope_interleaved && (3 * t.mrope_section[1] > t.head_dim / 2 + 1 ||
                                    3 * t.mrope_section[2] > t.head_dim / 2))
            r.fail("interleaved mrope_section does not fit head_dim/2 = " +
                   std::to_string(t.head_dim / 2));
    }
}

VisionConfig read_vision(const Reader& v, Architecture arch) {
    VisionConfig c;
    c.depth = v.positive("depth");
    c.hidden_size = v.positive(v.has("hidden_size") ? "hidden_size" : "embed_dim");
    c.num_heads = v.positive("num_heads");
    c.intermediate_size = v.positive("intermediate_size");
    c.patch_size = v.positive("patch_size");
    c.temporal_patch_size = v.positive("temporal_patch_size", 2);
    c.spatial_merge_size = v.positive("spatial_merge_size", 2);
    c.out_hidden_size = v.positive(arch == Architecture::qwen2_5_vl && !v.has("out_hidden_size")
                                       ? "hidden_size"
                                       : "out_hidden_size");
    if (v.has("rope_parameters"))
        c.rope_theta = v.child("rope_parameters").number("rope_theta", 10000.0);
    if (v.has("hidden_act")) {
        const json& act = v.raw()["hidden_act"];
        const std::string name = act.is_string() ? act.get<std::string>() : act.dump();
        if (name == "gelu")
            c.gelu_tanh = false;
        else if (name == "gelu_pytorch_tanh")
            c.gelu_tanh = true;
        else if (arch == Architecture::qwen3_vl_moe)
            v.fail("hidden_act " + name + " is not supported (gelu_pytorch_tanh or gelu)");
    }
    if (arch == Architecture::qwen3_vl_moe) {
        c.num_position_embeddings = v.positive("num_position_embeddings");
        c.deepstack_visual_indexes = v.int_list("deepstack_visual_indexes");
        for (int i : c.deepstack_visual_indexes)
            if (i < 0 || i >= c.depth)
                v.fail("deepstack_visual_indexes names block " + std::to_string(i) + " of " +
                       std::to_string(c.depth));
    } else {
        c.window_size = v.integer("window_size", 112);
        c.fullatt_block_indexes = v.int_list("fullatt_block_indexes");
    }
    if (c.hidden_size % c.num_heads != 0) v.fail("hidden_size is not a multiple of num_heads");
    return c;
}

}  // namespace

ModelConfig parse_model_config(const std::string& text, const std::string& label) {
    json doc;
    try {
        doc = json::parse(text);
    } catch (const json::exception& e) {
        throw ConfigError(label + ": not valid JSON: " + e.what());
    }
    if (!doc.is_object()) throw ConfigError(label + ": not a JSON object");
    const Reader top(doc, label, "");
    if (!top.has("model_type") || !doc["model_type"].is_string()) top.fail("model_type is missing");
    const std::string type = doc["model_type"];
    ModelConfig c;
    if (type == "qwen3_vl_moe")
        c.architecture = Architecture::qwen3_vl_moe;
    else if (type == "qwen3_moe")
        c.architecture = Architecture::qwen3_moe;
    else if (type == "qwen2_5_vl")
        c.architecture = Architecture::qwen2_5_vl;
    else
        top.fail("model_type '" + type +
                 "' is not supported (qwen3_vl_moe, qwen3_moe, qwen2_5_vl are)");

    try {
        if (c.architecture == Architecture::qwen3_vl_moe) {
            const Reader text_r = top.child("text_config");
            read_text(text_r, c.architecture, c.text);
            check_text(text_r, c.text);
            // tie_word_embeddings lives at the top for the composite model.
            c.text.tie_word_embeddings =
                top.boolean("tie_word_embeddings", c.text.tie_word_embeddings);
            c.vision = read_vision(top.child("vision_config"), c.architecture);
            if (c.vision->out_hidden_size != c.text.hidden_size)
                top.fail("vision_config.out_hidden_size (" +
                         std::to_string(c.vision->out_hidden_size) +
                         ") differs from text_config.hidden_size (" +
                         std::to_string(c.text.hidden_size) + ")");
        } else if (c.architecture == Architecture::qwen3_moe) {
            read_text(top, c.architecture, c.text);
            check_text(top, c.text);
        } else {
            // Newer transformers write a text_config; older checkpoints keep the fields at the top.
            const Reader text_r = top.has("text_config") ? top.child("text_config") : top;
            read_text(text_r, c.architecture, c.text);
            check_text(text_r, c.text);
            c.text.tie_word_embeddings =
                top.boolean("tie_word_embeddings", c.text.tie_word_embeddings);
            c.vision = read_vision(top.child("vision_config"), c.architecture);
            if (c.vision->out_hidden_size != c.text.hidden_size)
                top.fail("vision_config.out_hidden_size (" +
                         std::to_string(c.vision->out_hidden_size) +
                         ") differs from hidden_size (" + std::to_string(c.text.hidden_size) + ")");
        }
        c.image_token_id = top.integer("image_token_id", c.image_token_id);
        c.video_token_id = top.integer("video_token_id", c.video_token_id);
        c.vision_start_token_id = top.integer("vision_start_token_id", c.vision_start_token_id);
        c.vision_end_token_id = top.integer("vision_end_token_id", c.vision_end_token_id);
    } catch (const json::exception& e) {
        throw ConfigError(label + ": unexpected structure: " + e.what());
    }
    return c;
}

ModelConfig load_model_config(const std::filesystem::path& path) {
    const auto file = std::filesystem::is_directory(path) ? path / "config.json" : path;
    std::ifstream in(file);
    if (!in) throw ConfigError(file.string() + ": cannot open");
    std::ostringstream ss;
    ss << in.rdbuf();
    return parse_model_config(ss.str(), file.string());
}

}  // namespace deskpilot::model::engine
