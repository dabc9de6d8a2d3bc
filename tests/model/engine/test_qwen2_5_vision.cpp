// The CPU Qwen2.5-VL vision tower against transformers (tools/golden/qwen2_5_vl_golden.py): a
// tiny random tower of depth 4 (window attention, block 2 full) on a 140x196 image: patch grid
// 10x14, merged 5x7, so the 4x4 windows leave 4x3, 1x4 and 1x3 windows at the edges (the
// padding path). Preprocessing with CLIP mean/std, the window permutation and its boundaries,
// patch embedding, every block and the merger output (back in raster order) match in f32.
#include <QtTest>

#include <filesystem>
#include <map>

#include "model/engine/config.h"
#include "model/engine/vision/qwen2_5_vision.h"
#include "pixel_values.h"
#include "qwen2_5_golden.h"
#include "vision/image_io.h"

using namespace deskpilot;
using namespace deskpilot::model::engine;
using namespace deskpilot::testing::qwen2_5_golden;
namespace fs = std::filesystem;

namespace {

PixelValues golden_pixels(const Checkpoint& g) {
    return test::pixels_of(golden(g, "pixel_values"), golden(g, "grid"));
}

struct Tower {
    ModelConfig config = load_model_config(kDir);
    Checkpoint g{kDir / "golden.safetensors"};
    Qwen25VisionModel model{config, std::make_shared<const Checkpoint>(kDir / "model.safetensors")};
};

}  // namespace

class TestQwen25Vision : public QObject {
    Q_OBJECT

  private slots:
    void preprocessing_matches_the_processor() {
        const Checkpoint g(kDir / "golden.safetensors");
        const PixelValues px =
            preprocess_image(vision::read_image(kDir / "image.png"), kQwen25VlPreprocess);
        const PixelValues want = golden_pixels(g);
        QCOMPARE(px.grid_thw, (std::array<int, 3>{1, 10, 14}));
        QCOMPARE(px.cols, std::int64_t(1176));
        QCOMPARE(px.merged_tokens(), std::int64_t(35));
        const QString why = mismatch(px.data.data(), want.data, 0, 1e-6);
        QVERIFY2(why.isEmpty(), qPrintable(why));
    }

    void window_layout_matches_transformers() {
        const Checkpoint g(kDir / "golden.safetensors");
        const WindowLayout w = window_layout(10, 14, 2, 4);
        std::vector<float> index(w.index.begin(), w.index.end()),
            cu(w.cu_seqlens.begin(), w.cu_seqlens.end());
        QCOMPARE(index, golden(g, "vision.window_index"));
        QCOMPARE(cu, golden(g, "vision.cu_window_seqlens"));
        QCOMPARE(w.cu_seqlens, (std::vector<std::int64_t>{0, 64, 112, 128, 140}));
        // A grid that is a multiple of the window: no edge windows, no empty ones.
        const WindowLayout even = window_layout(16, 16, 2, 4);
        QCOMPARE(even.cu_seqlens, (std::vector<std::int64_t>{0, 64, 128, 192, 256}));
        QCOMPARE(even.index[4], std::int64_t(8));  // second row of the first window
        // A window larger than the image: one window, raster order.
        const WindowLayout one = window_layout(4, 6, 2, 4);
        QCOMPARE(one.cu_seqlens, (std::vector<std::int64_t>{0, 24}));
        QCOMPARE(one.index, (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5}));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, window_layout(4, 6, 2, 0));
    }

    void encoder_matches_transformers() {
        Tower t;
        std::map<std::string, std::vector<float>> seen;
        const VisionFeatures f = t.model.encode(
            golden_pixels(t.g), [&](const std::string& name, int layer, const float* data,
                                    std::int64_t rows, std::int64_t cols) {
                std::string key = "vision." + name;
                if (name == "block") key += "." + std::to_string(layer);
                seen[key] = std::vector<float>(data, data + rows * cols);
            });
        QCOMPARE(f.tokens, std::int64_t(35));
        QCOMPARE(f.width, std::int64_t(64));
        QVERIFY(f.deepstack.empty());
        const char* names[] = {"vision.patch_embed", "vision.block.0", "vision.block.1",
                               "vision.block.2",     "vision.block.3", "vision.merged"};
        for (const char* n : names) {
            QVERIFY2(seen.count(n), n);
            const QString why = mismatch(seen[n].data(), golden(t.g, n));
            QVERIFY2(why.isEmpty(), qPrintable(QString(n) + ": " + why));
        }
        QVERIFY(mismatch(f.merged.data(), golden(t.g, "vision.merged")).isEmpty());
    }

    void a_used_tower_answers_as_a_fresh_one() {
        // The tower keeps its activations between encodes (vblocks::Workspace). A larger image
        // first (grid 20x28: more windows, longer buffers) leaves them bigger and full of its
        // values; the golden image after it must still match transformers, and give bit for bit
        // what a fresh tower gives.
        Tower used, fresh;
        const VisionFeatures want = fresh.model.encode(golden_pixels(fresh.g));
        const VisionFeatures big = used.model.encode(test::random_pixels(20, 28, 1176, 3));
        QCOMPARE(big.tokens, std::int64_t(140));
        const VisionFeatures got = used.model.encode(golden_pixels(used.g));
        QCOMPARE(got.merged, want.merged);
        const QString why = mismatch(got.merged.data(), golden(used.g, "vision.merged"));
        QVERIFY2(why.isEmpty(), qPrintable(why));
        // And the larger one again, after the smaller: the same as the first time.
        QCOMPARE(used.model.encode(test::random_pixels(20, 28, 1176, 3)).merged, big.merged);
    }

    void every_block_needs_its_attention_span() {
        // Running block 2 windowed (as if fullatt_block_indexes were empty) changes its output:
        // the full-attention block is really global, and the windows really restrict the others.
        ModelConfig windowed = load_model_config(kDir);
        windowed.vision->fullatt_block_indexes.clear();
        const Qwen25VisionModel model(
            windowed, std::make_shared<const Checkpoint>(kDir / "model.safetensors"));
        const Checkpoint g(kDir / "golden.safetensors");
        std::vector<float> b1, b2;
        model.encode(golden_pixels(g), [&](const std::string& name, int layer, const float* d,
                                           std::int64_t r, std::int64_t c) {
            if (name == "block" && layer == 1) b1.assign(d, d + r * c);
            if (name == "block" && layer == 2) b2.assign(d, d + r * c);
        });
        QVERIFY(mismatch(b1.data(), golden(g, "vision.block.1")).isEmpty());
        QVERIFY(!mismatch(b2.data(), golden(g, "vision.block.2")).isEmpty());
    }

    void bad_pixel_values_are_errors() {
        Tower t;
        PixelValues px = golden_pixels(t.g);
        px.grid_thw = {1, 10, 12};
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, t.model.encode(px));
        px = golden_pixels(t.g);
        px.cols = 1536;  // Qwen3-VL's patch 16
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, t.model.encode(px));
    }

    void wrong_configs_and_checkpoints_are_errors() {
        const auto ck = std::make_shared<const Checkpoint>(kDir / "model.safetensors");
        ModelConfig c = load_model_config(kDir);
        c.vision->window_size = 14;  // below one merged patch (28 px)
        QVERIFY_THROWS_EXCEPTION(ConfigError, Qwen25VisionModel(c, ck));
        c = load_model_config(kDir);
        c.vision->fullatt_block_indexes = {4};
        QVERIFY_THROWS_EXCEPTION(ConfigError, Qwen25VisionModel(c, ck));
        c = load_model_config(kDir);
        c.vision->intermediate_size = 64;
        try {
            Qwen25VisionModel m(c, ck);
            QFAIL("no error");
        } catch (const CheckpointError& e) {
            QVERIFY2(QString(e.what()).contains("visual.blocks.0.mlp.gate_proj.weight"), e.what());
        }
        const fs::path qwen3 =
            fs::path(DESKPILOT_TEST_DATA_DIR) / "engine/qwen3_vl_moe_vision_tiny";
        QVERIFY_THROWS_EXCEPTION(
            ConfigError,
            Qwen25VisionModel(load_model_config(qwen3),
                              std::make_shared<const Checkpoint>(qwen3 / "model.safetensors")));
    }
};

QTEST_GUILESS_MAIN(TestQwen25Vision)
#include "test_qwen2_5_vision.moc"
