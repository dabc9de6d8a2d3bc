// config.json parsing: the golden tiny checkpoint's configs (both rope spellings), a 30B-A3B,
// a qwen3_moe and a Qwen2.5-VL (UI-TARS-1.5-7B) config, and one error per constraint.
#include <QtTest>

#include <nlohmann/json.hpp>

#include "model/engine/config.h"

using namespace deskpilot::model::engine;
using json = nlohmann::json;

namespace {

const std::string kTiny = std::string(DESKPILOT_TEST_DATA_DIR) + "/engine/qwen3_vl_moe_tiny";

json qwen3_30b() {
    return json::parse(R"({
      "architectures": ["Qwen3VLMoeForConditionalGeneration"], "model_type": "qwen3_vl_moe",
      "image_token_id": 151655, "video_token_id": 151656, "vision_start_token_id": 151652, "vision_end_token_id": 151653,
      "tie_word_embeddings": false,
      "text_config": {"model_type": "qwen3_vl_moe_text", "vocab_size": 151936, "hidden_size": 2048, "num_hidden_layers": 48,
        "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128, "intermediate_size": 6144,
        "moe_intermediate_size": 768, "num_experts": 128, "num_experts_per_tok": 8, "decoder_sparse_step": 1,
        "mlp_only_layers": [], "rms_norm_eps": 1e-6, "rope_theta": 5000000, "max_position_embeddings": 262144,
        "rope_scaling": {"mrope_interleaved": true, "mrope_section": [24, 20, 20], "rope_type": "default"}},
      "vision_config": {"depth": 27, "hidden_size": 1152, "num_heads": 16, "intermediate_size": 4304, "patch_size": 16,
        "temporal_patch_size": 2, "spatial_merge_size": 2, "out_hidden_size": 2048, "num_position_embeddings": 2304,
        "deepstack_visual_indexes": [8, 16, 24]}})");
}

json uitars_7b() {
    return json::parse(R"({
      "model_type": "qwen2_5_vl", "vocab_size": 152064, "hidden_size": 3584, "num_hidden_layers": 28,
      "num_attention_heads": 28, "num_key_value_heads": 4, "intermediate_size": 18944, "rms_norm_eps": 1e-6,
      "rope_theta": 1000000.0, "max_position_embeddings": 128000, "tie_word_embeddings": false,
      "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
      "vision_config": {"depth": 32, "hidden_size": 1280, "num_heads": 16, "intermediate_size": 3420, "patch_size": 14,
        "temporal_patch_size": 2, "spatial_merge_size": 2, "out_hidden_size": 3584, "window_size": 112,
        "fullatt_block_indexes": [7, 15, 23, 31]}})");
}

std::string error_of(const json& j) {
    try {
        parse_model_config(j.dump(), "cfg.json");
        return "";
    } catch (const ConfigError& e) {
        return e.what();
    }
}

}  // namespace

class ConfigTest : public QObject {
    Q_OBJECT
  private slots:
    void tinyGoldenBothSpellings() {
        for (const std::string& dir : {kTiny, kTiny + "/bf16"}) {
            const ModelConfig c = load_model_config(dir);
            QCOMPARE(c.architecture, Architecture::qwen3_vl_moe);
            QCOMPARE(c.text.hidden_size, 64);
            QCOMPARE(c.text.num_heads * c.text.head_dim, 128);
            QCOMPARE(c.text.num_kv_heads, 2);
            QCOMPARE(c.text.num_experts, 8);  // spelled num_local_experts by transformers' to_dict
            QCOMPARE(c.text.num_experts_per_tok, 2);
            QCOMPARE(c.text.rope_theta, 1e6);
            QCOMPARE(c.text.mrope_section, (std::vector<int>{6, 5, 5}));
            QVERIFY(c.text.mrope_interleaved);
            QVERIFY(c.text.qk_norm);
            QVERIFY(c.text.norm_topk_prob);
            QVERIFY(!c.text.tie_word_embeddings);
            QVERIFY(c.vision.has_value());
        }
    }

    void realWidths() {
        const ModelConfig c = parse_model_config(qwen3_30b().dump(), "30b");
        QCOMPARE(c.text.num_layers, 48);
        QCOMPARE(c.text.rope_theta, 5e6);
        QCOMPARE(c.vision->deepstack_visual_indexes, (std::vector<int>{8, 16, 24}));
        QVERIFY(c.text.is_moe_layer(0));

        const ModelConfig u = parse_model_config(uitars_7b().dump(), "uitars");
        QCOMPARE(u.architecture, Architecture::qwen2_5_vl);
        QCOMPARE(u.text.head_dim, 128);
        QVERIFY(!u.text.mrope_interleaved);
        QVERIFY(u.text.attention_bias);
        QCOMPARE(u.text.num_experts, 0);
        QCOMPARE(u.vision->fullatt_block_indexes.size(), std::size_t(4));

        json m = qwen3_30b()["text_config"];
        m["model_type"] = "qwen3_moe";
        m.erase("rope_scaling");
        m["norm_topk_prob"] = true;
        m["mlp_only_layers"] = {3};
        const ModelConfig q = parse_model_config(m.dump(), "qwen3_moe");
        QCOMPARE(q.architecture, Architecture::qwen3_moe);
        QVERIFY(q.text.mrope_section.empty());
        QVERIFY(!q.text.is_moe_layer(3));
        QVERIFY(q.text.is_moe_layer(2));
    }

    void ropeParametersSpelling() {
        json j = qwen3_30b();
        j["text_config"].erase("rope_scaling");
        j["text_config"].erase("rope_theta");
        j["text_config"]["rope_parameters"] = {{"rope_type", "default"},
                                               {"rope_theta", 123.0},
                                               {"mrope_section", {24, 20, 20}},
                                               {"mrope_interleaved", true}};
        QCOMPARE(parse_model_config(j.dump(), "x").text.rope_theta, 123.0);
    }

    void constraintErrors_data() {
        QTest::addColumn<QString>("patch");  // a JSON merge patch applied to the 30B config
        QTest::addColumn<QString>("needle");
        QTest::newRow("model type") << R"({"model_type":"llama"})"
                                    << "model_type 'llama' is not supported";
        QTest::newRow("mrope sum")
            << R"({"text_config":{"rope_scaling":{"mrope_section":[24,20,21]}}})"
            << "mrope_section sums to 65 but head_dim/2 is 64";
        QTest::newRow("mrope count")
            << R"({"text_config":{"rope_scaling":{"mrope_section":[32,32]}}})"
            << "mrope_section must have 3 entries";
        QTest::newRow("mrope missing")
            << R"({"text_config":{"rope_scaling":{"mrope_section":null}}})"
            << "mrope_section is missing";
        QTest::newRow("interleave fit")
            << R"({"text_config":{"rope_scaling":{"mrope_section":[0,22,42]}}})"
            << "does not fit";
        QTest::newRow("rope type") << R"({"text_config":{"rope_scaling":{"rope_type":"yarn"}}})"
                                   << "rope type 'yarn' is not supported";
        QTest::newRow("gqa") << R"({"text_config":{"num_key_value_heads":5}})"
                             << "not a multiple of num_key_value_heads";
        QTest::newRow("topk") << R"({"text_config":{"num_experts_per_tok":200}})"
                              << "num_experts_per_tok (200) exceeds num_experts (128)";
        QTest::newRow("missing") << R"({"text_config":{"hidden_size":null}})"
                                 << "text_config.hidden_size is missing";
        QTest::newRow("type") << R"({"text_config":{"num_hidden_layers":"48"}})"
                              << "num_hidden_layers must be an integer";
        QTest::newRow("negative") << R"({"text_config":{"vocab_size":-1}})"
                                  << "vocab_size must be positive";
        QTest::newRow("odd head")
            << R"({"text_config":{"head_dim":127,"rope_scaling":{"mrope_section":[23,20,20]}}})"
            << "head_dim must be even";
        QTest::newRow("mlp only") << R"({"text_config":{"mlp_only_layers":[99]}})"
                                  << "names layer 99";
        QTest::newRow("vision width") << R"({"vision_config":{"out_hidden_size":4096}})"
                                      << "differs from text_config.hidden_size";
        QTest::newRow("deepstack") << R"({"vision_config":{"deepstack_visual_indexes":[27]}})"
                                   << "deepstack_visual_indexes names block 27";
        QTest::newRow("no vision") << R"({"vision_config":null})"
                                   << "vision_config is missing";
        QTest::newRow("eps") << R"({"text_config":{"rms_norm_eps":0}})"
                             << "rms_norm_eps must be positive";
    }

    void constraintErrors() {
        QFETCH(QString, patch);
        QFETCH(QString, needle);
        json j = qwen3_30b();
        j.merge_patch(json::parse(patch.toStdString()));
        const std::string msg = error_of(j);
        QVERIFY2(msg.find("cfg.json: ") == 0, msg.c_str());
        QVERIFY2(msg.find(needle.toStdString()) != std::string::npos, msg.c_str());
    }

    void notJson() {
        QVERIFY_THROWS_EXCEPTION(ConfigError, parse_model_config("{", "x"));
        QVERIFY_THROWS_EXCEPTION(ConfigError, parse_model_config("[]", "x"));
        QVERIFY_THROWS_EXCEPTION(ConfigError, load_model_config("/nonexistent/dir"));
    }
};

QTEST_APPLESS_MAIN(ConfigTest)
#include "test_config.moc"
