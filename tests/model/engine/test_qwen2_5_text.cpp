// The CPU Qwen2.5-VL text decoder against transformers (tools/golden/qwen2_5_vl_golden.py):
// per-layer hidden states, prefill logits and three KV-cached decode steps under chunked MRoPE
// positions that differ per axis, in f32 with the tied lm_head and the Hub's model.* names.
// Also the recipe chosen by make_text_decoder and broken checkpoints.
#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <map>

#include "model/engine/arch/qwen2_5_vl.h"
#include "model/engine/config.h"
#include "qwen2_5_golden.h"

using namespace deskpilot::model::engine;
using namespace deskpilot::testing::qwen2_5_golden;

class TestQwen25Text : public QObject {
    Q_OBJECT
    cpu::ThreadPool pool_{2};

  private slots:
    void config_is_read() {
        const ModelConfig c = load_model_config(kDir);
        QCOMPARE(c.architecture, Architecture::qwen2_5_vl);
        QVERIFY(c.text.tie_word_embeddings);
        QVERIFY(c.text.attention_bias);
        QVERIFY(!c.text.qk_norm);
        QVERIFY(!c.text.mrope_interleaved);
        QCOMPARE(c.text.mrope_section, (std::vector<int>{4, 6, 6}));
        QCOMPARE(c.vision->fullatt_block_indexes, std::vector<int>{2});
        QCOMPARE(c.vision->window_size, 112);
    }

    void f32_matches_transformers() {
        const Checkpoint g(kDir / "golden.safetensors");
        Qwen25TextModel m(load_model_config(kDir),
                          std::make_shared<const Checkpoint>(kDir / "model.safetensors"), pool_);
        QCOMPARE(m.tensor_prefix(), std::string("model."));
        const auto ids = golden_ids(g, "text.ids");
        KvCache kv = m.new_cache(4);  // small on purpose: the cache must grow
        std::map<std::string, std::vector<float>> seen;
        const auto logits = m.forward(
            ids, golden_positions(g, "text.positions"), kv, true,
            [&](const std::string& n, int l, const float* d, std::int64_t r, std::int64_t c) {
                seen[n + "." + std::to_string(l)] = std::vector<float>(d, d + r * c);
            });
        const int L = m.config().text.num_layers;
        for (int l = 0; l < L; ++l) {
            const QString why = mismatch(seen["hidden_in." + std::to_string(l)].data(),
                                         golden(g, "text.hidden." + std::to_string(l)));
            QVERIFY2(why.isEmpty(), qPrintable(QString("hidden.%1: ").arg(l) + why));
            if (l + 1 < L)  // a layer's output is the next one's input
                QCOMPARE(seen["hidden_out." + std::to_string(l)],
                         seen["hidden_in." + std::to_string(l + 1)]);
        }
        QString why = mismatch(logits.data(), golden(g, "text.logits"));
        QVERIFY2(why.isEmpty(), qPrintable("logits: " + why));
        for (int s = 0; s < 3; ++s) {
            const std::string p = "text.step." + std::to_string(s) + ".";
            const auto step =
                m.forward(golden_ids(g, p + "id"), golden_positions(g, p + "position"), kv, false);
            why = mismatch(step.data(), golden(g, p + "logits"));
            QVERIFY2(why.isEmpty(), qPrintable(QString::fromStdString(p) + why));
        }
        QCOMPARE(kv.length, std::int64_t(ids.size() + 3));
    }

    void chunked_sections_are_not_interleaved() {
        // Frequencies 0..3 follow T, 4..9 H, 10..15 W (the interleaved layout would differ at 1).
        const ModelConfig c = load_model_config(kDir);
        const cpu::Rope rope(c.text.head_dim, c.text.rope_theta, c.text.mrope_section, false);
        QCOMPARE(rope.axis(1), 0);
        QCOMPARE(rope.axis(3), 0);
        QCOMPARE(rope.axis(4), 1);
        QCOMPARE(rope.axis(9), 1);
        QCOMPARE(rope.axis(10), 2);
        QCOMPARE(rope.axis(15), 2);
    }

    void make_text_decoder_picks_the_recipe() {
        auto d = make_text_decoder(load_model_config(kDir),
                                   std::make_shared<const Checkpoint>(kDir / "model.safetensors"),
                                   pool_);
        QVERIFY(dynamic_cast<Qwen25TextModel*>(d.get()) != nullptr);
    }

    void broken_checkpoints_are_clear_errors() {
        const ModelConfig good = load_model_config(kDir);
        const auto ck = std::make_shared<const Checkpoint>(kDir / "model.safetensors");
        // An untied config needs lm_head.weight, which this tied checkpoint does not have.
        ModelConfig untied = good;
        untied.text.tie_word_embeddings = false;
        QVERIFY_THROWS_EXCEPTION(CheckpointError, Qwen25TextModel(untied, ck, pool_));
        try {
            Qwen25TextModel m(untied, ck, pool_);
        } catch (const CheckpointError& e) {
            QVERIFY2(std::string(e.what()).find("lm_head.weight") != std::string::npos, e.what());
        }
        // A wider MLP than the tensors hold names the tensor and both shapes.
        ModelConfig wide = good;
        wide.text.intermediate_size = 256;
        try {
            Qwen25TextModel m(wide, ck, pool_);
            QFAIL("no error");
        } catch (const CheckpointError& e) {
            QVERIFY2(std::string(e.what()).find("mlp.gate_proj.weight") != std::string::npos,
                     e.what());
        }
        // Another architecture's config, or interleaved MRoPE, is refused up front.
        ModelConfig other = good;
        other.architecture = Architecture::qwen3_vl_moe;
        QVERIFY_THROWS_EXCEPTION(ConfigError, Qwen25TextModel(other, ck, pool_));
        ModelConfig inter = good;
        inter.text.mrope_interleaved = true;
        QVERIFY_THROWS_EXCEPTION(ConfigError, Qwen25TextModel(inter, ck, pool_));
    }
};

QTEST_GUILESS_MAIN(TestQwen25Text)
#include "test_qwen2_5_text.moc"
