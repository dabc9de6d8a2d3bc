// The CUDA Qwen3-VL vision tower against the CPU one on the tiny checkpoint
// (tests/data/engine/qwen3_vl_moe_vision_tiny, head_dim 16, 3 blocks, DeepStack after blocks 0
// and 2). The checkpoint is f32; the GPU uploads bf16, so both towers run a copy whose weights
// are rounded to bf16 (stored as f32; qkv sharpened ×4) and the tolerance covers only the GPU's
// bf16 GEMM inputs (0.2-0.4% on the host emulation of this tower, tools/cuda_host_emu/run.sh).
// Labelled `gpu`: the parity cases skip without a device; the no-device error runs everywhere.
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>

#include "cuda_test_support.h"
#include "model/engine/arch/vl_model.h"
#include "model/engine/config.h"
#include "model/engine/cuda/device.h"
#include "model/engine/cuda/vision_model.h"
#include "model/engine/dtype.h"
#include "model/engine/native_vlm.h"
#include "model/engine/vision/qwen3_vision.h"
#include "safetensors_writer.h"
#include "vision_golden.h"

using namespace deskpilot;
namespace engine = deskpilot::model::engine;
using deskpilot::testing::vision_golden::golden;
using deskpilot::testing::vision_golden::kDir;

namespace {

using deskpilot::test::cuda::no_gpu;

// Relative to the features' own peak (small on random weights).
float rel_err(const std::vector<float>& a, const std::vector<float>& b) {
    return deskpilot::test::cuda::rel_err(a, b, deskpilot::test::cuda::Scale::peak);
}

// bf16 activations before each GEMM (about 2^-9 relative each) through 3 blocks and a merger.
constexpr float kTol = 2e-2f;

// The tiny checkpoint with every weight rounded to bf16 (kept as f32), qkv ×4: at ×1 the tiny
// random weights give near-uniform attention, blind to the rotary (a tower without k::rope2d
// passed at ×1 on the host emulator, tools/cuda_host_emu); at ×4 dropping it is a 14-26% error.
struct Bf16Folder : deskpilot::test::cuda::Bf16Folder {
    Bf16Folder() : deskpilot::test::cuda::Bf16Folder(kDir, {.qkv_scale = 4.0f}) {}
};

// The golden 64x96 image: grid 1x4x6 (non-square, a still image: both frames equal).
engine::PixelValues golden_pixels() {
    const engine::Checkpoint g(kDir / "golden.safetensors");
    engine::PixelValues px;
    px.data = golden(g, "pixel_values");
    px.grid_thw = {1, 4, 6};
    px.rows = 24;
    px.cols = std::int64_t(px.data.size()) / 24;
    return px;
}

// Random pixels on a gh x gw grid (frames differ: the CPU takes its full-weight path too).
engine::PixelValues random_pixels(int gh, int gw, std::int64_t cols, unsigned seed) {
    return deskpilot::test::cuda::random_pixels(gh, gw, cols, seed);
}

}  // namespace

class TestCudaVision : public QObject {
    Q_OBJECT

  private slots:
    // Merged and DeepStack features of the golden image, a square grid larger than the 6x6
    // position table (interpolation upsamples) and a tall narrow one.
    void towerMatchesCpu() {
        SKIP_WITHOUT_GPU();
        const Bf16Folder bf16;
        const auto ck = std::make_shared<const engine::Checkpoint>(bf16.dir / "model.safetensors");
        const engine::ModelConfig cfg = engine::load_model_config(kDir);
        const engine::Qwen3VisionModel cpu(cfg, ck);
        const model::cuda::CudaQwen3Vision gpu(cfg, *ck);
        const engine::PixelValues golden_px = golden_pixels();
        for (const engine::PixelValues& px : {golden_px, random_pixels(8, 8, golden_px.cols, 1),
                                              random_pixels(10, 2, golden_px.cols, 2)}) {
            const engine::VisionFeatures want = cpu.encode(px), got = gpu.encode(px);
            const QString grid = QString("%1x%2").arg(px.grid_thw[1]).arg(px.grid_thw[2]);
            QCOMPARE(got.tokens, want.tokens);
            QCOMPARE(got.width, want.width);
            const float e = rel_err(got.merged, want.merged);
            QVERIFY2(e <= kTol, qPrintable(grid + QString(" merged: relative error %1").arg(e)));
            QCOMPARE(got.deepstack.size(), want.deepstack.size());
            QCOMPARE(int(want.deepstack.size()), 2);
            for (std::size_t k = 0; k < want.deepstack.size(); ++k) {
                const float d = rel_err(got.deepstack[k], want.deepstack[k]);
                QVERIFY2(
                    d <= kTol,
                    qPrintable(grid + QString(" deepstack %1: relative error %2").arg(k).arg(d)));
            }
        }
        // The tolerance tells images apart: another image's features are far outside it.
        const auto a = cpu.encode(random_pixels(8, 8, golden_px.cols, 1)).merged,
                   b = cpu.encode(random_pixels(8, 8, golden_px.cols, 3)).merged;
        QVERIFY(rel_err(a, b) > 10 * kTol);
    }

    void badInputIsAClearError() {
        SKIP_WITHOUT_GPU();
        const auto ck = std::make_shared<const engine::Checkpoint>(kDir / "model.safetensors");
        const model::cuda::CudaQwen3Vision gpu(engine::load_model_config(kDir), *ck);
        engine::PixelValues px = golden_pixels();
        px.grid_thw = {1, 4, 5};  // odd width: no 2x2 merge
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, gpu.encode(px));
        engine::PixelValues narrow = random_pixels(2, 2, golden_pixels().cols - 1, 4);
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, gpu.encode(narrow));
        const engine::Trace trace = [](const std::string&, int, const float*, std::int64_t,
                                       std::int64_t) {};
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, gpu.encode(golden_pixels(), trace));
    }

    // NativeVlm with device cuda runs both the decoder and the tower on the GPU.
    void nativeVlmPutsTheTowerOnTheGpu() {
        SKIP_WITHOUT_GPU();
        model::NativeVlm gpu({.model_dir = kDir, .threads = 2, .device = "cuda"});
        QVERIFY(QString::fromStdString(gpu.describe()).contains("vision tower too"));
    }

    // Without a device the constructor says so (runs on every machine).
    void noDeviceIsAClearError() {
        if (!no_gpu()) QSKIP("a CUDA device is present");
        const auto ck = std::make_shared<const engine::Checkpoint>(kDir / "model.safetensors");
        QVERIFY_THROWS_EXCEPTION(model::cuda::CudaError, model::cuda::CudaQwen3Vision(
                                                             engine::load_model_config(kDir), *ck));
    }

    // Config problems are named before any device is touched (so this runs without a GPU in a
    // CUDA build): no vision config, another architecture, a head dim the flash kernel lacks, a
    // position table that is not square.
    void configErrorsBeforeTheDevice() {
        if (!model::cuda::compiled_in()) QSKIP("no CUDA in this build");
        const engine::Checkpoint ck(kDir / "model.safetensors");
        const engine::ModelConfig good = engine::load_model_config(kDir);
        engine::ModelConfig c = good;
        c.vision.reset();
        QVERIFY_THROWS_EXCEPTION(engine::ConfigError, model::cuda::CudaQwen3Vision(c, ck));
        c = good;
        c.architecture = engine::Architecture::qwen2_5_vl;
        try {
            model::cuda::CudaQwen3Vision v(c, ck);
            QFAIL("a qwen2_5_vl config accepted");
        } catch (const engine::ConfigError& e) {
            QVERIFY2(QString(e.what()).contains(
                         "the CUDA Qwen3-VL vision tower does not run qwen2_5_vl checkpoints"),
                     e.what());
        }
        c = good;
        c.vision->num_heads = 4;  // head_dim 8
        try {
            model::cuda::CudaQwen3Vision v(c, ck);
            QFAIL("head_dim 8 accepted");
        } catch (const model::cuda::CudaError& e) {
            QVERIFY2(QString(e.what()).contains("head_dim 8"), e.what());
        }
        c = good;
        c.vision->num_position_embeddings = 35;
        QVERIFY_THROWS_EXCEPTION(engine::ConfigError, model::cuda::CudaQwen3Vision(c, ck));
    }

    void replaceVisionRefusesNull() {
        const auto ck = std::make_shared<const engine::Checkpoint>(kDir / "model.safetensors");
        engine::VlModel m(engine::load_model_config(kDir), ck);
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, m.replace_vision(nullptr));
    }
};

QTEST_APPLESS_MAIN(TestCudaVision)
#include "test_cuda_vision.moc"
