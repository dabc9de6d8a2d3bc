// The CPU Qwen3-VL vision tower against transformers (tools/golden/qwen3_vl_vision_golden.py):
// a tiny random tower of depth 3 with DeepStack after blocks 0 and 2, on a 64x96 image whose
// 4x6 patch grid interpolates a 6x6 position table. Patch embedding, interpolated positions,
// every block, both DeepStack features and the merger output match in f32 (rtol 1e-4).
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "model/engine/config.h"
#include "model/engine/vision/qwen3_vision.h"
#include "pixel_values.h"
#include "safetensors_writer.h"
#include "vision/image_io.h"
#include "vision_golden.h"

using namespace deskpilot;
using namespace deskpilot::model::engine;
namespace fs = std::filesystem;

using namespace deskpilot::testing::vision_golden;

namespace {

PixelValues golden_pixels(const Checkpoint& g) {
    return test::pixels_of(golden(g, "pixel_values"), golden(g, "grid"));
}

}  // namespace

class TestQwen3Vision : public QObject {
    Q_OBJECT

  private slots:
    void preprocessing_matches_the_processor() {
        const Checkpoint g(kDir / "golden.safetensors");
        PreprocessParams params = kQwen3VlPreprocess;
        params.resize.min_pixels = 4096;  // what the generator asked for: keep 64x96
        const PixelValues px = preprocess_image(vision::read_image(kDir / "image.png"), params);
        const PixelValues want = golden_pixels(g);
        QCOMPARE(px.grid_thw, want.grid_thw);
        const QString why = mismatch(px.data.data(), want.data, 0, 1e-6);
        QVERIFY2(why.isEmpty(), qPrintable(why));
    }

    void encoder_matches_transformers() {
        const ModelConfig config = load_model_config(kDir);
        auto ck = std::make_shared<const Checkpoint>(kDir / "model.safetensors");
        const Checkpoint g(kDir / "golden.safetensors");
        const Qwen3VisionModel model(config, ck);
        std::map<std::string, std::vector<float>> seen;
        const VisionFeatures f = model.encode(
            golden_pixels(g), [&](const std::string& name, int layer, const float* data,
                                  std::int64_t rows, std::int64_t cols) {
                std::string key = "vision." + name;
                if (name == "block" || name == "deepstack") key += "." + std::to_string(layer);
                seen[key] = std::vector<float>(data, data + rows * cols);
            });
        QCOMPARE(f.tokens, std::int64_t(6));
        QCOMPARE(f.deepstack.size(), std::size_t(2));
        const char* names[] = {"vision.patch_embed", "vision.pos_embed", "vision.block.0",
                               "vision.block.1",     "vision.block.2",   "vision.deepstack.0",
                               "vision.deepstack.1", "vision.merged"};
        for (const char* n : names) {
            QVERIFY2(seen.count(n), n);
            const QString why = mismatch(seen[n].data(), golden(g, n));
            QVERIFY2(why.isEmpty(), qPrintable(QString(n) + ": " + why));
        }
        QVERIFY(mismatch(f.merged.data(), golden(g, "vision.merged")).isEmpty());
        QVERIFY(mismatch(f.deepstack[1].data(), golden(g, "vision.deepstack.1")).isEmpty());
    }

    // Older checkpoints name the tower visual.* instead of model.visual.*: the same tiny
    // checkpoint with its vision tensors renamed gives the same features.
    void older_visual_prefix_loads() {
        std::ifstream in(kDir / "model.safetensors", std::ios::binary);
        const std::string bytes{std::istreambuf_iterator<char>(in), {}};
        std::uint64_t n = 0;
        for (int i = 0; i < 8; ++i)
            n |= std::uint64_t(std::uint8_t(bytes[std::size_t(i)])) << 8 * i;
        std::string header = bytes.substr(8, n);
        const std::string from = "\"model.visual.", to = "\"visual.";
        int renamed = 0;
        for (std::size_t at; (at = header.find(from)) != std::string::npos; ++renamed)
            header.replace(at, from.size(), to);
        QVERIFY(renamed > 10);
        while (header.size() % 8) header += ' ';
        QTemporaryDir tmp;
        const fs::path file = fs::path(tmp.path().toStdString()) / "model.safetensors";
        deskpilot::test::write_raw_safetensors(
            file, header,
            std::vector<std::uint8_t>(bytes.begin() + 8 + std::ptrdiff_t(n), bytes.end()));
        auto ck = std::make_shared<const Checkpoint>(file);
        QVERIFY(ck->has("visual.patch_embed.proj.weight"));
        QVERIFY(!ck->has("model.visual.patch_embed.proj.weight"));
        const Checkpoint g(kDir / "golden.safetensors");
        const Qwen3VisionModel model(load_model_config(kDir), ck);
        const VisionFeatures f = model.encode(golden_pixels(g));
        const QString why = mismatch(f.merged.data(), golden(g, "vision.merged"));
        QVERIFY2(why.isEmpty(), qPrintable(why));
        QVERIFY(mismatch(f.deepstack[1].data(), golden(g, "vision.deepstack.1")).isEmpty());
    }

    void a_used_tower_answers_as_a_fresh_one() {
        // The tower keeps its activations between encodes (vblocks::Workspace). A larger image
        // first (grid 12x16) leaves them bigger and full of its values; the golden image after
        // it must still match transformers (merger and DeepStack), and give bit for bit what a
        // fresh tower gives.
        const ModelConfig config = load_model_config(kDir);
        auto ck = std::make_shared<const Checkpoint>(kDir / "model.safetensors");
        const Checkpoint g(kDir / "golden.safetensors");
        const Qwen3VisionModel used(config, ck), fresh(config, ck);
        const PixelValues px = golden_pixels(g);
        const VisionFeatures want = fresh.encode(px);
        const VisionFeatures big = used.encode(test::random_pixels(12, 16, px.cols, 5));
        QCOMPARE(big.tokens, std::int64_t(48));
        const VisionFeatures got = used.encode(px);
        QCOMPARE(got.merged, want.merged);
        QCOMPARE(got.deepstack, want.deepstack);
        QVERIFY(mismatch(got.merged.data(), golden(g, "vision.merged")).isEmpty());
        QVERIFY(mismatch(got.deepstack[0].data(), golden(g, "vision.deepstack.0")).isEmpty());
        QCOMPARE(used.encode(test::random_pixels(12, 16, px.cols, 5)).merged, big.merged);
    }

    void moving_frames_use_the_full_kernel() {
        // Two different frames: the pre-summed weights would be wrong; the output must differ
        // from the still image's.
        const ModelConfig config = load_model_config(kDir);
        auto ck = std::make_shared<const Checkpoint>(kDir / "model.safetensors");
        const Checkpoint g(kDir / "golden.safetensors");
        const Qwen3VisionModel model(config, ck);
        PixelValues px = golden_pixels(g);
        std::vector<float> pe_still, pe_moved;
        auto grab = [](std::vector<float>& into) {
            return [&into](const std::string& name, int, const float* d, std::int64_t r,
                           std::int64_t c) {
                if (name == "patch_embed") into.assign(d, d + r * c);
            };
        };
        model.encode(px, grab(pe_still));
        const std::int64_t p2 = 16 * 16;
        for (std::int64_t r = 0; r < px.rows; ++r)  // zero frame 1 of the red channel
            for (std::int64_t k = 0; k < p2; ++k) px.data[std::size_t(r * px.cols + p2 + k)] = 0;
        model.encode(px, grab(pe_moved));
        QVERIFY(!mismatch(pe_moved.data(), pe_still).isEmpty());
    }

    void bad_pixel_values_are_errors() {
        const ModelConfig config = load_model_config(kDir);
        auto ck = std::make_shared<const Checkpoint>(kDir / "model.safetensors");
        const Checkpoint g(kDir / "golden.safetensors");
        const Qwen3VisionModel model(config, ck);
        PixelValues px = golden_pixels(g);
        px.grid_thw = {1, 4, 4};
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, model.encode(px));
        px = golden_pixels(g);
        px.cols = 1176;
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, model.encode(px));
    }

    void text_only_checkpoint_is_an_error() {
        const fs::path text = fs::path(DESKPILOT_TEST_DATA_DIR) / "engine/qwen3_vl_moe_tiny/bf16";
        const ModelConfig config = load_model_config(text);
        auto ck = std::make_shared<const Checkpoint>(text / "model.safetensors");
        try {
            Qwen3VisionModel model(config, ck);
            QFAIL("no error");
        } catch (const CheckpointError& e) {
            QVERIFY2(QString(e.what()).contains("no vision tower"), e.what());
        }
    }
};

QTEST_GUILESS_MAIN(TestQwen3Vision)
#include "test_qwen3_vision.moc"
