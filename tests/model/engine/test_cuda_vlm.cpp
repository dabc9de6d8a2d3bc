// The CUDA decoder with image prompts, against the CPU decoder on the tiny Qwen3-VL-MoE
// checkpoint (tests/data/engine/qwen3_vl_moe_vision_tiny): the same prepared input (ids with
// <|image_pad|> runs, multimodal positions, the CPU vision tower's merged and DeepStack features)
// gives the same logits within bf16 tolerance, in prefill, decode and prefix reuse; NativeVlm
// gives the same greedy answer on both devices, choosing tokens on the device (argmax; top-p
// equal to its CPU twin; a seed repeats). Labelled `gpu`: skips without a device.
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <memory>

#include "cuda_test_support.h"
#include "model/engine/arch/qwen3_vl_moe.h"
#include "model/engine/arch/vl_model.h"
#include "model/engine/config.h"
#include "model/engine/cuda/device.h"
#include "model/engine/cuda/sample_twin.h"
#include "model/engine/cuda/text_decoder.h"
#include "model/engine/dtype.h"
#include "model/engine/native_vlm.h"
#include "safetensors_writer.h"
#include "vision/image_io.h"
#include "vision_golden.h"

using namespace deskpilot;
namespace engine = deskpilot::model::engine;
using deskpilot::testing::vision_golden::golden;
using deskpilot::testing::vision_golden::kDir;

namespace {

using deskpilot::test::cuda::rel_err;

// The tiny checkpoint (f32) with its weights rounded to bf16: the decoder's stored as BF16, the
// vision tower's kept f32 (NativeVlm on cuda runs the CUDA vision tower, which uploads bf16, so
// both towers see the same weights). The GPU uploads bf16, so both devices then multiply the
// same weights and the tolerance only covers the GPU's bf16 activations.
struct Bf16Folder : deskpilot::test::cuda::Bf16Folder {
    Bf16Folder() : deskpilot::test::cuda::Bf16Folder(kDir, {.keep_f32 = "model.visual."}) {}
};

// The golden prompt: one 64x96 image (6 merged tokens) inside text.
struct Prompt {
    std::vector<std::int32_t> ids;
    std::vector<engine::PixelValues> images;
    Prompt() {
        const engine::Checkpoint g(kDir / "golden.safetensors");
        for (float f : golden(g, "ids")) ids.push_back(std::int32_t(f));
        engine::PixelValues px;
        px.data = golden(g, "pixel_values");
        px.grid_thw = {1, 4, 6};
        px.rows = 24;
        px.cols = std::int64_t(px.data.size()) / 24;
        images.push_back(std::move(px));
    }
};

// A VlModel whose decoder runs on GPU 0 (the vision tower stays on the CPU here; NativeVlm puts
// it on the GPU too).
std::unique_ptr<engine::VlModel> cuda_model(std::shared_ptr<const engine::Checkpoint> ck) {
    auto m = std::make_unique<engine::VlModel>(engine::load_model_config(kDir), ck);
    const auto& cpu = dynamic_cast<const engine::Qwen3MoeTextModel&>(m->text());
    m->replace_text(std::make_unique<model::cuda::CudaTextDecoder>(
        std::make_unique<model::cuda::CudaTextModel>(cpu, *ck)));
    return m;
}

planner::Request screenshot_request(const std::string& text) {
    auto frame = std::make_shared<const vision::Frame>(vision::read_image(kDir / "image.png"));
    planner::Request r;
    r.messages.push_back(
        {planner::Role::user,
         {planner::ContentPart::of_image(frame), planner::ContentPart::of_text(text)}});
    return r;
}

}  // namespace

class TestCudaVlm : public QObject {
    Q_OBJECT

  private slots:
    // Every prompt position's logits with the image features and DeepStack in place, then decode
    // steps at rope_delta-shifted positions, then a grown prompt that reuses the cache.
    void decoderWithImageMatchesCpu() {
        SKIP_WITHOUT_GPU();
        const Bf16Folder bf16;
        const auto ck = std::make_shared<const engine::Checkpoint>(bf16.dir / "model.safetensors");
        engine::VlModel cpu(engine::load_model_config(kDir), ck);
        const auto gpu = cuda_model(ck);
        Prompt p;
        engine::VlmState cs = cpu.new_state(), gs = gpu->new_state();
        CLOSE(gpu->prefill(p.ids, p.images, gs, true), cpu.prefill(p.ids, p.images, cs, true),
              3e-2f);
        QCOMPARE(gs.rope_delta, cs.rope_delta);
        QVERIFY(cs.rope_delta != 0);  // the image really shifts the positions
        for (std::int32_t step = 0; step < 3; ++step) {
            const std::int32_t id = 100 + step;
            CLOSE(gpu->decode(id, gs), cpu.decode(id, cs), 3e-2f);
        }
        QCOMPARE(gs.cache.length, cs.cache.length);

        // The conversation grows: only the new tokens run, from the device cache.
        std::vector<std::int32_t> grown = p.ids;
        for (std::int32_t id : {100, 101, 102, 7, 8, 9}) grown.push_back(id);
        CLOSE(gpu->prefill(grown, p.images, gs), cpu.prefill(grown, p.images, cs), 3e-2f);
        QCOMPARE(gpu->last_reused(), cpu.last_reused());
        QVERIFY(gpu->last_reused() > std::int64_t(p.ids.size()));

        // A different prompt rolls the device cache back to the common prefix.
        std::vector<std::int32_t> other = p.ids;
        other.back() = other.back() == 5 ? 6 : 5;
        CLOSE(gpu->prefill(other, p.images, gs), cpu.prefill(other, p.images, cs), 3e-2f);
    }

    // The same numbers straight through CudaTextModel::forward, with DeepStack off and on: if the
    // GPU ignored either feature the CPU logits would differ by more than the tolerance.
    void featuresChangeTheLogits() {
        SKIP_WITHOUT_GPU();
        const Bf16Folder bf16;
        const auto ck = std::make_shared<const engine::Checkpoint>(bf16.dir / "model.safetensors");
        engine::VlModel cpu(engine::load_model_config(kDir), ck);
        auto& text = dynamic_cast<engine::Qwen3MoeTextModel&>(cpu.text());
        model::cuda::CudaTextModel gpu(text, *ck);
        Prompt p;
        const engine::VisionFeatures f = cpu.vision().encode(p.images[0]);
        std::int64_t delta = 0;
        const std::array<int, 3> grid = p.images[0].grid_thw;
        const engine::Positions pos =
            engine::multimodal_positions(p.ids, cpu.config().image_token_id, {&grid, 1},
                                         cpu.config().vision->spatial_merge_size, delta);
        engine::VisualInjection with;
        with.merged = f.merged.data();
        with.tokens = f.tokens;
        for (const auto& d : f.deepstack) with.deepstack.push_back(d.data());
        QVERIFY(!with.deepstack.empty());
        engine::VisualInjection flat = with;
        flat.deepstack.clear();
        std::vector<float> want[2], got[2];
        int i = 0;
        for (const engine::VisualInjection* v : {&flat, &with}) {
            auto kv = text.new_cache(64);
            want[i] = text.forward(p.ids, pos, kv, true, {}, v);
            gpu.reset(64);
            got[i] = gpu.forward(p.ids, pos, true, v);
            CLOSE(got[i], want[i], 3e-2f);
            ++i;
        }
        QVERIFY(rel_err(want[0], want[1]) > 10 * 3e-2f);  // DeepStack matters at this tolerance
        // Features for the wrong number of image tokens: a clear error.
        engine::VisualInjection wrong = with;
        wrong.tokens += 1;
        gpu.reset(64);
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, gpu.forward(p.ids, pos, true, &wrong));
    }

    void nativeVlmSameGreedyAnswerOnBothDevices() {
        SKIP_WITHOUT_GPU();
        const Bf16Folder bf16;
        model::NativeVlm cpu({.model_dir = bf16.dir, .threads = 2});
        model::NativeVlm gpu({.model_dir = bf16.dir, .threads = 2, .device = "cuda"});
        QVERIFY(QString::fromStdString(gpu.describe()).contains("decoder on cuda:"));
        model::GenerateOptions o;
        o.temperature = 0;
        o.max_tokens = 6;  // as cudaMatchesCpuTokens: a tiny random model has close margins
        model::CancelToken cancel;
        const auto want = cpu.generate(screenshot_request("click Apply"), o, {}, cancel);
        const auto got = gpu.generate(screenshot_request("click Apply"), o, {}, cancel);
        CLOSE(gpu.last_prompt_logits(), cpu.last_prompt_logits(), 3e-2f);
        QCOMPARE(got.text, want.text);
        QCOMPARE(got.completion_tokens, want.completion_tokens);
        // Asked again: the device cache serves all but the last prompt token.
        const auto again = gpu.generate(screenshot_request("click Apply"), o, {}, cancel);
        QCOMPARE(again.text, want.text);
        QCOMPARE(gpu.last_reused_tokens(), std::int64_t(want.prompt_tokens - 1));
    }

    // The decode step with the token chosen on the device (what NativeVlm on cuda runs): argmax
    // of the same step's logits, and top-p equal to its CPU twin on them.
    void decodeChoosesOnTheDevice() {
        SKIP_WITHOUT_GPU();
        const Bf16Folder bf16;
        const auto ck = std::make_shared<const engine::Checkpoint>(bf16.dir / "model.safetensors");
        const auto gpu = cuda_model(ck);
        QVERIFY(gpu->text().chooses_tokens());
        Prompt p;
        engine::VlmState gs = gpu->new_state();
        gpu->prefill(p.ids, p.images, gs);
        for (std::int32_t step = 0; step < 3; ++step) {
            const std::int32_t id = 100 + step;
            engine::VlmState with_logits = gs;  // the decoder rewinds to the state's length
            const std::vector<float> lg = gpu->decode(id, with_logits);
            const auto top = std::int32_t(std::max_element(lg.begin(), lg.end()) - lg.begin());
            for (float u : {0.1f, 0.6f, 0.97f}) {
                engine::VlmState s = gs;
                const std::int32_t dev = gpu->decode_choose(id, s, {0.7f, 0.9f, u});
                QCOMPARE(dev, model::cuda::sample_top_p_cpu(lg.data(), std::int64_t(lg.size()),
                                                            0.7f, 0.9f, u)
                                  .id);
                QCOMPARE(s.cache.length, with_logits.cache.length);
            }
            QCOMPARE(gpu->decode_choose(id, gs, {}), top);
        }
    }

    // NativeVlm on cuda samples on the device: a seed gives the same answer run to run, and a
    // cancel from the text callback stops between tokens.
    void nativeVlmSampledOnDeviceRepeatsAndCancels() {
        SKIP_WITHOUT_GPU();
        const Bf16Folder bf16;
        model::NativeVlm gpu({.model_dir = bf16.dir, .threads = 2, .device = "cuda"});
        model::GenerateOptions o;
        o.temperature = 1.0;
        o.top_p = 0.95;
        o.seed = 1234;
        o.max_tokens = 12;
        model::CancelToken cancel;
        const auto a = gpu.generate(screenshot_request("click Apply"), o, {}, cancel);
        const auto b = gpu.generate(screenshot_request("click Apply"), o, {}, cancel);
        QCOMPARE(b.text, a.text);
        QCOMPARE(b.completion_tokens, a.completion_tokens);
        QCOMPARE(b.finish_reason, a.finish_reason);

        o.temperature = 0;
        int pieces = 0;
        const auto c = gpu.generate(
            screenshot_request("click Apply"), o,
            [&](std::string_view) {
                ++pieces;
                cancel.cancel();
            },
            cancel);
        if (pieces == 0) QSKIP("the tiny model's greedy answer emitted no text to cancel on");
        QCOMPARE(c.finish_reason, std::string("cancelled"));
        QCOMPARE(pieces, 1);
        QVERIFY(c.completion_tokens < o.max_tokens);
    }
};

QTEST_APPLESS_MAIN(TestCudaVlm)
#include "test_cuda_vlm.moc"
