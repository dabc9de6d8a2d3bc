// The CUDA decoder running Qwen2.5-VL (UI-TARS-1.5's recipe: q/k/v biases, dense SwiGLU, chunked
// MRoPE) against the CPU decoder on the tiny Qwen2.5-VL checkpoint (tests/data/engine/
// qwen2_5_vl_tiny): the golden image prompt's logits at every position (image features in place,
// multimodal positions), decode steps, prefix reuse, with the head tied (the tiny checkpoint) and
// untied (its bf16/ copy with lm_head.weight and UI-TARS's flat config); a long text prompt whose
// decode steps take the split-K kernel with several splits; the CUDA vision tower (window and
// full attention, merger) against Qwen25VisionModel; NativeVlm's greedy answer on both devices.
// Labelled `gpu`: skips without a device. The same decoder and tower comparisons run on the host
// emulator (tools/cuda_host_emu/run.sh).
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>

#include "cuda_test_support.h"
#include "model/engine/arch/qwen2_5_vl.h"
#include "model/engine/arch/vl_model.h"
#include "model/engine/config.h"
#include "model/engine/cpu/thread_pool.h"
#include "model/engine/cuda/device.h"
#include "model/engine/cuda/memory_limit.h"
#include "model/engine/cuda/text_decoder.h"
#include "model/engine/cuda/vision_qwen2_5.h"
#include "model/engine/dtype.h"
#include "model/engine/native_vlm.h"
#include "model/engine/vision/qwen2_5_vision.h"
#include "qwen2_5_golden.h"
#include "safetensors_writer.h"
#include "vision/image_io.h"

using namespace deskpilot;
namespace engine = deskpilot::model::engine;
using deskpilot::testing::qwen2_5_golden::golden;
using deskpilot::testing::qwen2_5_golden::golden_ids;
using deskpilot::testing::qwen2_5_golden::kDir;

namespace {

using deskpilot::test::cuda::Bf16Policy;
using deskpilot::test::cuda::rel_err;

// The decoder's weights stored as BF16, the vision tower's rounded to bf16 (kept f32): the GPU
// uploads bf16, so both devices multiply the same weights and the tolerance only covers the GPU's
// bf16 activations. The bf16/ folder has no tokenizer of its own.
struct Bf16Folder : deskpilot::test::cuda::Bf16Folder {
    explicit Bf16Folder(const std::filesystem::path& src_dir)
        : deskpilot::test::cuda::Bf16Folder(src_dir, Bf16Policy{.keep_f32 = "visual."}, kDir) {}
};

// The golden prompt: one 140x196 image (35 merged tokens) inside text.
struct Prompt {
    std::vector<std::int32_t> ids;
    std::vector<engine::PixelValues> images;
    Prompt() {
        const engine::Checkpoint g(kDir / "golden.safetensors");
        ids = golden_ids(g, "ids");
        engine::PixelValues px;
        px.data = golden(g, "pixel_values");
        px.grid_thw = {1, 10, 14};
        px.rows = 140;
        px.cols = std::int64_t(px.data.size()) / 140;
        images.push_back(std::move(px));
    }
};

}  // namespace

class TestCudaQwen25 : public QObject {
    Q_OBJECT

  private slots:
    void decoderWithImageMatchesCpu_data() {
        QTest::addColumn<QString>("folder");
        QTest::newRow("tied head") << QString::fromStdString(kDir.string());
        QTest::newRow("untied head, flat config")
            << QString::fromStdString((kDir / "bf16").string());
    }
    // Every prompt position's logits with the image features in place, then decode steps at
    // rope_delta-shifted positions, then a grown prompt that reuses the device cache.
    void decoderWithImageMatchesCpu() {
        SKIP_WITHOUT_GPU();
        QFETCH(QString, folder);
        const Bf16Folder bf16(folder.toStdString());
        const auto ck = std::make_shared<const engine::Checkpoint>(bf16.dir / "model.safetensors");
        const engine::ModelConfig cfg = engine::load_model_config(bf16.dir);
        engine::VlModel cpu(cfg, ck), gpu(cfg, ck);
        gpu.replace_text(std::make_unique<model::cuda::CudaTextDecoder>(
            model::cuda::CudaTextModel::upload(gpu.text(), *ck)));
        Prompt p;
        engine::VlmState cs = cpu.new_state(), gs = gpu.new_state();
        CLOSE(gpu.prefill(p.ids, p.images, gs, true), cpu.prefill(p.ids, p.images, cs, true),
              3e-2f);
        QCOMPARE(gs.rope_delta, cs.rope_delta);
        QVERIFY(cs.rope_delta != 0);
        for (std::int32_t step = 0; step < 3; ++step)
            CLOSE(gpu.decode(100 + step, gs), cpu.decode(100 + step, cs), 3e-2f);
        std::vector<std::int32_t> grown = p.ids;
        for (std::int32_t id : {100, 101, 102, 7, 8, 9}) grown.push_back(id);
        CLOSE(gpu.prefill(grown, p.images, gs), cpu.prefill(grown, p.images, cs), 3e-2f);
        QCOMPARE(gpu.last_reused(), cpu.last_reused());
        QVERIFY(gpu.last_reused() > std::int64_t(p.ids.size()));
    }

    // Text only, straight through CudaTextModel: a 200-token prompt, then decode steps whose
    // split-K attention runs with several splits (past >= 64), against Qwen25TextModel; with
    // the KV cache in bf16 (the default) and in f32.
    void longTextDecodeMatchesCpu_data() {
        QTest::addColumn<bool>("f32_kv");
        QTest::newRow("bf16 KV") << false;
        QTest::newRow("f32 KV") << true;
    }
    void longTextDecodeMatchesCpu() {
        SKIP_WITHOUT_GPU();
        QFETCH(bool, f32_kv);
        const Bf16Folder bf16(kDir);
        const auto ck = std::make_shared<const engine::Checkpoint>(bf16.dir / "model.safetensors");
        engine::Qwen25TextModel cpu(engine::load_model_config(bf16.dir), ck);
        model::cuda::CudaTextModel gpu(cpu, *ck);
        if (f32_kv) gpu.set_kv_dtype(model::cuda::KvDtype::f32);
        QVERIFY(gpu.kv_dtype() ==
                (f32_kv ? model::cuda::KvDtype::f32 : model::cuda::KvDtype::bf16));
        std::vector<std::int32_t> ids;
        for (int i = 0; i < 200; ++i) ids.push_back(std::int32_t((i * 37 + 11) % 900));
        auto kv = cpu.new_cache(256);
        gpu.reset(256);
        const auto pos = engine::Positions::text(0, std::int64_t(ids.size()));
        CLOSE(gpu.forward(ids, pos, true), cpu.forward(ids, pos, kv, true), 3e-2f);
        for (std::int32_t step = 0; step < 4; ++step) {
            const std::int32_t one[1] = {std::int32_t(50 + step)};
            const auto p1 = engine::Positions::text(kv.length, 1);
            CLOSE(gpu.forward(one, p1), cpu.forward(one, p1, kv), 3e-2f);
        }
        QCOMPARE(gpu.length(), kv.length);
    }

    // The tower alone, on grids with whole and partial windows and a still image (the CPU tower
    // then multiplies pre-summed Conv3d weights), qkv ×4 (a power of 2: exact in bf16) so the
    // tiny random weights' attention is sharp enough for the windows and the rotary to matter.
    void visionTowerMatchesCpu() {
        SKIP_WITHOUT_GPU();
        // Every weight rounded to bf16 (kept f32), qkv ×4 so the windows and the rotary matter.
        const deskpilot::test::cuda::Bf16Folder bf16(kDir, Bf16Policy{.qkv_scale = 4.0f});
        const auto ck = std::make_shared<const engine::Checkpoint>(bf16.dir / "model.safetensors");
        const engine::ModelConfig cfg = engine::load_model_config(kDir);
        const engine::Qwen25VisionModel cpu(cfg, ck);
        const model::cuda::CudaQwen25Vision gpu(cfg, *ck);
        const auto& vc = *cfg.vision;
        const std::int64_t tp = vc.temporal_patch_size,
                           p2 = std::int64_t(vc.patch_size) * vc.patch_size, cols = 3 * tp * p2;
        for (const auto& [gh, gw, still] : {std::tuple{10, 14, false}, std::tuple{8, 8, false},
                                            std::tuple{16, 12, false}, std::tuple{18, 10, true}}) {
            const engine::PixelValues px = deskpilot::test::cuda::random_pixels(
                gh, gw, cols, unsigned(gh * 100 + gw), still ? int(tp) : 0, p2);
            const engine::VisionFeatures want = cpu.encode(px), got = gpu.encode(px);
            QCOMPARE(got.tokens, want.tokens);
            QVERIFY(got.deepstack.empty());
            const float err = rel_err(got.merged, want.merged, deskpilot::test::cuda::Scale::peak);
            QVERIFY2(err <= 2e-2f,
                     qPrintable(QString("%1x%2: relative error %3").arg(gh).arg(gw).arg(err)));
        }
        engine::PixelValues bad;
        bad.grid_thw = {1, 3, 4};  // not a multiple of the 2x2 merge
        bad.rows = 12;
        bad.cols = cols;
        bad.data.resize(std::size_t(12 * cols));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, gpu.encode(bad));
    }

    // NativeVlm with the decoder and the tower on the GPU (tokens chosen on the device): the
    // CPU's greedy answer; a seeded sampled answer repeats.
    void nativeVlmSameGreedyAnswerOnBothDevices() {
        SKIP_WITHOUT_GPU();
        const Bf16Folder bf16(kDir);
        model::NativeVlm cpu({.model_dir = bf16.dir, .threads = 2});
        model::NativeVlm gpu({.model_dir = bf16.dir, .threads = 2, .device = "cuda"});
        QVERIFY(QString::fromStdString(gpu.describe()).contains("decoder on cuda:"));
        auto frame = std::make_shared<const vision::Frame>(vision::read_image(kDir / "image.png"));
        planner::Request r;
        r.messages.push_back({planner::Role::user,
                              {planner::ContentPart::of_image(frame),
                               planner::ContentPart::of_text("click Apply")}});
        model::GenerateOptions o;
        o.temperature = 0;
        o.max_tokens = 6;  // a tiny random model has close margins
        model::CancelToken cancel;
        const auto want = cpu.generate(r, o, {}, cancel);
        const auto got = gpu.generate(r, o, {}, cancel);
        CLOSE(gpu.last_prompt_logits(), cpu.last_prompt_logits(), 3e-2f);
        QCOMPARE(got.text, want.text);
        QCOMPARE(got.completion_tokens, want.completion_tokens);
        // Sampled on the device from a seed: the same answer run to run.
        o.temperature = 1.0;
        o.top_p = 0.95;
        o.seed = 99;
        o.max_tokens = 12;
        const auto s1 = gpu.generate(r, o, {}, cancel);
        const auto s2 = gpu.generate(r, o, {}, cancel);
        QCOMPARE(s2.text, s1.text);
        QCOMPARE(s2.completion_tokens, s1.completion_tokens);
    }

    // A cancel (the caller's StopScope) stops a prefill within one decoder layer and a vision
    // pass within one block: a stop check that flips on its (n+1)-th question ends the pass
    // after n layers (blocks), the cache keeps its length, and the same prompt then gives the
    // logits of a pass never stopped. (The same on the host emulator: limits_check.cpp cancel.)
    void prefillAndTowerStopWithinOneLayer() {
        SKIP_WITHOUT_GPU();
        const auto ck = std::make_shared<const engine::Checkpoint>(kDir / "model.safetensors");
        const engine::ModelConfig cfg = engine::load_model_config(kDir);
        engine::VlModel host(cfg, ck);
        const auto gpu = model::cuda::CudaTextModel::upload(host.text(), *ck);
        std::vector<std::int32_t> ids;
        for (int i = 0; i < 40; ++i) ids.push_back(std::int32_t((i * 37 + 11) % 1000));
        const auto pos = engine::Positions::text(0, std::int64_t(ids.size()));
        gpu->reset(64);
        const std::vector<float> want = gpu->forward(ids, pos);
        struct StopAfter {
            int n, asked = 0;
            bool operator()() { return ++asked > n; }
        };
        for (int n = 0; n < cfg.text.num_layers; ++n) {
            gpu->reset(64);
            StopAfter stop{n};
            {
                const engine::cpu::StopScope scope([&] { return stop(); });
                QVERIFY_THROWS_EXCEPTION(engine::cpu::Stopped, gpu->forward(ids, pos));
            }
            QCOMPARE(stop.asked, n + 1);
            QCOMPARE(gpu->length(), std::int64_t(0));
            QCOMPARE(gpu->forward(ids, pos), want);
        }
        const model::cuda::CudaQwen25Vision tower(cfg, *ck);
        const auto& vc = *cfg.vision;
        const engine::PixelValues px = deskpilot::test::cuda::random_pixels(
            8, 8, std::int64_t(3) * vc.temporal_patch_size * vc.patch_size * vc.patch_size, 5);
        const std::vector<float> features = tower.encode(px).merged;
        StopAfter stop{1};
        {
            const engine::cpu::StopScope scope([&] { return stop(); });
            QVERIFY_THROWS_EXCEPTION(engine::cpu::Stopped, tower.encode(px));
        }
        QCOMPARE(stop.asked, 2);
        QCOMPARE(tower.encode(px).merged, features);
    }

    // A device memory cap too small for the weights: NativeVlm's one ModelError names the buffer,
    // its bytes and the free memory; nothing stays allocated; without the cap the model loads.
    void memoryCapTooSmallIsAClearError() {
        SKIP_WITHOUT_GPU();
        const std::size_t base = model::cuda::memory_in_use();
        model::cuda::set_memory_limit(base + (std::size_t(64) << 10));
        try {
            model::NativeVlm vlm({.model_dir = kDir, .threads = 2, .device = "cuda"});
            QFAIL("a 64K cap held the whole model");
        } catch (const model::ModelError& e) {
            const QString m = e.what();
            QVERIFY2(m.contains("out of memory allocating") && m.contains("free under") &&
                         m.contains("free on the device"),
                     qPrintable(m));
        }
        QCOMPARE(model::cuda::memory_in_use(), base);
        model::cuda::clear_memory_limit_override();
        model::NativeVlm vlm({.model_dir = kDir, .threads = 2, .device = "cuda"});
        QVERIFY(model::cuda::memory_in_use() > base);
    }

    // Config problems are named before any device is touched, so this runs without a GPU in a
    // CUDA build: another architecture or no vision config names this tower; a window smaller
    // than one merged patch and a full-attention block past the last one name the field.
    void configErrorsBeforeTheDevice() {
        if (!model::cuda::compiled_in()) QSKIP("no CUDA in this build");
        const engine::Checkpoint ck(kDir / "model.safetensors");
        const engine::ModelConfig good = engine::load_model_config(kDir);
        const auto refused = [&](const engine::ModelConfig& c, const QString& expected) {
            try {
                model::cuda::CudaQwen25Vision tower(c, ck);
            } catch (const engine::ConfigError& e) {
                return QString(e.what()).contains(expected);
            }
            return false;
        };
        engine::ModelConfig c = good;
        c.architecture = engine::Architecture::qwen3_vl_moe;
        QVERIFY(
            refused(c, "the CUDA Qwen2.5-VL vision tower does not run qwen3_vl_moe checkpoints"));
        c = good;
        c.vision.reset();
        QVERIFY(refused(c, "Qwen2.5-VL vision tower does not run qwen2_5_vl configs without"));
        c = good;
        c.vision->window_size = 1;
        QVERIFY(refused(c, "vision_config.window_size 1"));
        c = good;
        c.vision->fullatt_block_indexes = {c.vision->depth};
        QVERIFY(refused(c, "vision_config.fullatt_block_indexes names block"));
    }

    // A CPU decoder the GPU has no recipe for is refused by name, not misread.
    void uploadNamesTheRecipe() {
        SKIP_WITHOUT_GPU();
        struct Other : engine::TextDecoder {
            engine::ModelConfig c;
            const engine::ModelConfig& config() const override { return c; }
            engine::KvCache new_cache(std::int64_t) const override { return {}; }
            std::vector<float> forward(std::span<const std::int32_t>, const engine::Positions&,
                                       engine::KvCache&, bool, const engine::Trace&,
                                       const engine::VisualInjection*) override {
                return {};
            }
        } other;
        const engine::Checkpoint ck(kDir / "model.safetensors");
        QVERIFY_THROWS_EXCEPTION(model::cuda::CudaError,
                                 model::cuda::CudaTextModel::upload(other, ck));
    }
};

QTEST_APPLESS_MAIN(TestCudaQwen25)
#include "test_cuda_qwen2_5.moc"
