// The whole Qwen2.5-VL forward against transformers (tools/golden/qwen2_5_vl_golden.py): a
// prompt with one 140x196 image (35 merged tokens from window-attention vision blocks),
// get_rope_index positions and rope_delta, the decoder's hidden states with the image features
// in place, prefill logits and three greedy decode steps; the image processor settings the
// model reports; prefix reuse across calls.
#include <QtTest>

#include <map>

#include "model/engine/arch/vl_model.h"
#include "model/engine/config.h"
#include "qwen2_5_golden.h"

using namespace deskpilot::model::engine;
using namespace deskpilot::testing::qwen2_5_golden;

namespace {

struct Fixture {
    Checkpoint g{kDir / "golden.safetensors"};
    VlModel model{load_model_config(kDir),
                  std::make_shared<const Checkpoint>(kDir / "model.safetensors")};
    std::vector<std::int32_t> ids = golden_ids(g, "ids");
    std::vector<PixelValues> images;
    Fixture() {
        PixelValues px;
        px.data = golden(g, "pixel_values");
        px.grid_thw = {1, 10, 14};
        px.rows = 140;
        px.cols = std::int64_t(px.data.size()) / 140;
        images.push_back(std::move(px));
    }
};

std::int32_t argmax(const std::vector<float>& v) {
    return std::int32_t(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace

class TestQwen25Vl : public QObject {
    Q_OBJECT

  private slots:
    void preprocess_params_follow_the_architecture() {
        Fixture f;
        const PreprocessParams p = f.model.preprocess_params();
        QCOMPARE(p.patch_size, 14);
        QCOMPARE(p.merge_size, 2);
        QCOMPARE(p.resize.factor, 28);
        QCOMPARE(p.resize.min_pixels, std::int64_t(3136));
        QCOMPARE(p.resize.max_pixels, std::int64_t(12845056));
        QCOMPARE(p.mean[0], 0.48145466f);
        QCOMPARE(p.std[2], 0.27577711f);
    }

    void positions_match_get_rope_index() {
        Fixture f;
        const std::array<int, 3> grid{1, 10, 14};
        std::int64_t delta = 0;
        const Positions p =
            multimodal_positions(f.ids, f.model.config().image_token_id, {&grid, 1}, 2, delta);
        const Positions want = golden_positions(f.g, "positions");
        QCOMPARE(p.t, want.t);
        QCOMPARE(p.h, want.h);
        QCOMPARE(p.w, want.w);
        QCOMPARE(delta, std::int64_t(golden(f.g, "rope_delta")[0]));
    }

    void prefill_and_decode_match_transformers() {
        Fixture f;
        std::map<std::string, std::vector<float>> seen;
        VlmState state = f.model.new_state();
        const auto logits = f.model.prefill(f.ids, f.images, state, true,
                                            [&](const std::string& name, int layer, const float* d,
                                                std::int64_t r, std::int64_t c) {
                                                seen[name + "." + std::to_string(layer)] =
                                                    std::vector<float>(d, d + r * c);
                                            });
        const QString merged = mismatch(seen["merged.-1"].data(), golden(f.g, "vision.merged"));
        QVERIFY2(merged.isEmpty(), qPrintable("vision.merged: " + merged));
        // hidden.0: embeddings with the image features; hidden.N (1 ≤ N < L): layer N-1's output.
        const int layers = f.model.config().text.num_layers;
        QString why = mismatch(seen["hidden_in.0"].data(), golden(f.g, "hidden.0"));
        QVERIFY2(why.isEmpty(), qPrintable("hidden.0: " + why));
        for (int l = 0; l < layers - 1; ++l) {
            why = mismatch(seen["hidden_out." + std::to_string(l)].data(),
                           golden(f.g, "hidden." + std::to_string(l + 1)));
            QVERIFY2(why.isEmpty(), qPrintable(QString("hidden.%1: ").arg(l + 1) + why));
        }
        why = mismatch(logits.data(), golden(f.g, "logits"));
        QVERIFY2(why.isEmpty(), qPrintable("logits: " + why));

        const auto greedy = golden(f.g, "greedy");
        std::vector<float> last(logits.end() - f.model.config().text.vocab_size, logits.end());
        for (int k = 0; k < 3; ++k) {
            why = mismatch(last.data(), golden(f.g, "step." + std::to_string(k) + ".logits"));
            QVERIFY2(why.isEmpty(), qPrintable(QString("step %1: ").arg(k) + why));
            QCOMPARE(argmax(last), std::int32_t(greedy[std::size_t(k)]));
            last = f.model.decode(argmax(last), state);
        }
    }

    void bf16_flat_checkpoint_within_bf16_tolerance() {
        // The same weights in bf16, an untied lm_head.weight and UI-TARS-1.5's flat config
        // (text fields at the top, rope_scaling "mrope"): within bf16's few percent.
        Fixture f;
        const auto dir = kDir / "bf16";
        const ModelConfig c = load_model_config(dir);
        QVERIFY(!c.text.tie_word_embeddings);
        QCOMPARE(c.text.mrope_section, (std::vector<int>{4, 6, 6}));
        QCOMPARE(c.vision->fullatt_block_indexes, std::vector<int>{2});
        VlModel bf16(c, std::make_shared<const Checkpoint>(dir / "model.safetensors"));
        VlmState state = bf16.new_state();
        const auto logits = bf16.prefill(f.ids, f.images, state, true);
        const QString why = mismatch(logits.data(), golden(f.g, "logits"), 5e-2, 3e-2);
        QVERIFY2(why.isEmpty(), qPrintable("bf16 logits: " + why));
    }

    void grown_prompt_reuses_the_prefix() {
        Fixture f;
        VlmState fresh = f.model.new_state();
        const auto want = f.model.prefill(f.ids, f.images, fresh);
        VlmState state = f.model.new_state();
        const std::vector<std::int32_t> head(f.ids.begin(), f.ids.begin() + 42);  // to <vision_end>
        f.model.prefill(head, f.images, state);
        const auto got = f.model.prefill(f.ids, f.images, state);
        QCOMPARE(f.model.last_reused(), std::int64_t(42));
        QVERIFY(mismatch(got.data(), want).isEmpty());
    }

    void bad_prompts_are_errors() {
        Fixture f;
        VlmState state = f.model.new_state();
        std::vector<std::int32_t> short_image = f.ids;
        short_image.erase(short_image.begin() + 10);  // 34 image tokens for a 35-token image
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 f.model.prefill(short_image, f.images, state));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 f.model.prefill(f.ids, std::span<const PixelValues>{}, state));
    }

    void text_only_architecture_is_not_a_vlm() {
        const auto dir =
            std::filesystem::path(DESKPILOT_TEST_DATA_DIR) / "engine/qwen3_vl_moe_tiny";
        ModelConfig c = load_model_config(dir);
        c.architecture = Architecture::qwen3_moe;
        try {
            VlModel m(c, std::make_shared<const Checkpoint>(dir / "model.safetensors"));
            QFAIL("no error");
        } catch (const ConfigError& e) {
            QVERIFY2(QString(e.what()).contains("no vision tower"), e.what());
        }
    }
};

QTEST_GUILESS_MAIN(TestQwen25Vl)
#include "test_qwen2_5_vl.moc"
