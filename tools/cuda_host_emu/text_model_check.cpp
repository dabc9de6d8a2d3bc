// Runs model/engine/cuda/text_model.cpp (CudaTextModel, via CudaTextDecoder under a VlModel) on
// the host: its own host code, the real kernels.cu, flash_attention.cu and vision_kernels.cu
// kernels under prelude.h's emulation (separate objects, see run.sh), and engine_standins.h for
// DeviceBuffer, Stream and Blas. Compared with the CPU decoder on a tiny checkpoint with its
// weights rounded to bf16 (as the gpu tests do): prefill logits of the golden image prompt (image
// features in place, multimodal positions), three decode steps (the split-K kernel) and a grown
// prompt that reuses the cache; then a 200-token text prompt and decode steps with several
// split-K splits; then the whole model with the CUDA vision tower too (as NativeVlm on cuda):
// the same greedy tokens, chosen on the device (decode_choose), and top-p on the device equal
// to its CPU twin. Works for both recipes (Qwen2.5-VL: biases, dense MLP; Qwen3-VL-
// MoE: q/k norm, MoE, DeepStack).
#define EMU_WITH_ENGINE
#include <cstdio>

#include "engine_standins.h"
#include "model/engine/arch/vl_model.h"
#include "model/engine/cuda/sample_twin.h"
#include "model/engine/cuda/text_decoder.h"
#include "model/engine/cuda/vl_model_device.h"
#include "tests/model/engine/cuda_test_support.h"

namespace engine = deskpilot::model::engine;
namespace cuda = deskpilot::model::cuda;

// max |a - b| / max |b|, and the gpu tests' max |a - b| / (1 + max |b|); infinite when a value
// is not finite or the sizes differ.
static std::pair<float, float> errors(const std::vector<float>& a, const std::vector<float>& b) {
    float worst = 0, mag = 0;
    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
        if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return {INFINITY, INFINITY};
        worst = std::max(worst, std::fabs(a[i] - b[i]));
        mag = std::max(mag, std::fabs(b[i]));
    }
    if (a.size() != b.size() || a.empty()) return {INFINITY, INFINITY};
    return {worst / mag, worst / (1 + mag)};
}

static std::int32_t argmax(const std::vector<float>& v) {
    return std::int32_t(std::max_element(v.begin(), v.end()) - v.begin());
}

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: text_model_check TINY_DIR GRID_H GRID_W OUT_DIR\n");
        return 2;
    }
    const std::filesystem::path tiny = argv[1], out = argv[4];
    const int gh = std::atoi(argv[2]), gw = std::atoi(argv[3]);
    // Every weight rounded to bf16 (kept f32): both decoders multiply the same weights.
    deskpilot::test::cuda::write_bf16_copy(tiny / "model.safetensors", out / "bf16.safetensors",
                                           {});
    const auto ck = std::make_shared<const engine::Checkpoint>(out / "bf16.safetensors");
    const engine::ModelConfig cfg = engine::load_model_config(tiny);
    engine::VlModel cpu(cfg, ck), gpu(cfg, ck);
    gpu.replace_text(
        std::make_unique<cuda::CudaTextDecoder>(cuda::CudaTextModel::upload(gpu.text(), *ck)));

    // The golden prompt (tools/golden/*): ids with one image's <|image_pad|> run, its pixels.
    const engine::Checkpoint g(tiny / "golden.safetensors");
    std::vector<std::int32_t> ids;
    {
        const engine::Tensor t = g.get("ids").to_f32();
        for (std::int64_t i = 0; i < t.numel(); ++i)
            ids.push_back(std::int32_t(t.data<float>()[i]));
    }
    std::vector<engine::PixelValues> images(1);
    {
        const engine::Tensor t = g.get("pixel_values").to_f32();
        engine::PixelValues& px = images[0];
        px.data.assign(t.data<float>(), t.data<float>() + t.numel());
        px.grid_thw = {1, gh, gw};
        px.rows = std::int64_t(gh) * gw;
        px.cols = t.numel() / px.rows;
    }
    int bad = 0;
    auto report = [&](const char* what, const std::vector<float>& got,
                      const std::vector<float>& want) {
        const auto [rel, test] = errors(got, want);
        const std::int64_t V = cfg.text.vocab_size;
        // Rows whose top token differs: the tiny model's logits have near-ties, which bf16
        // activations may flip; reported, not failed on.
        std::size_t rows = got.size() == want.size() ? got.size() / std::size_t(V) : 0, flips = 0;
        for (std::size_t r = 0; r < rows; ++r) {
            const std::vector<float> a(got.begin() + r * V, got.begin() + (r + 1) * V),
                b(want.begin() + r * V, want.begin() + (r + 1) * V);
            flips += argmax(a) != argmax(b);
        }
        std::printf(
            "%-28s rel %.3g  (gpu-test metric %.3g)  top token differs in %zu of %zu rows\n", what,
            rel, test, flips, rows);
        bad += !(test <= 3e-2f);
    };
    engine::VlmState cs = cpu.new_state(), gs = gpu.new_state();
    report("prefill (all positions)", gpu.prefill(ids, images, gs, true),
           cpu.prefill(ids, images, cs, true));
    for (std::int32_t step = 0; step < 3; ++step) {
        const std::string what = "decode " + std::to_string(step);
        report(what.c_str(), gpu.decode(100 + step, gs), cpu.decode(100 + step, cs));
    }
    std::vector<std::int32_t> grown = ids;
    for (std::int32_t id : {100, 101, 102, 7, 8, 9}) grown.push_back(id);
    report("grown prompt (cache reuse)", gpu.prefill(grown, images, gs, true),
           cpu.prefill(grown, images, cs, true));
    if (gpu.last_reused() != cpu.last_reused() || gs.cache.length != cs.cache.length) {
        std::printf("reuse differs: %lld vs %lld tokens\n", (long long)gpu.last_reused(),
                    (long long)cpu.last_reused());
        ++bad;
    }
    {  // Text only, 200 tokens: decode's split-K attention then runs with 4 splits.
        std::vector<std::int32_t> text;
        for (int i = 0; i < 200; ++i)
            text.push_back(std::int32_t((i * 37 + 11) % std::min(900, int(cfg.text.vocab_size))));
        engine::KvCache ck_cpu = cpu.text().new_cache(256), ck_gpu = gpu.text().new_cache(256);
        const auto pos = engine::Positions::text(0, std::int64_t(text.size()));
        report("text prefill (200 tokens)", gpu.text().forward(text, pos, ck_gpu, true),
               cpu.text().forward(text, pos, ck_cpu, true));
        for (std::int32_t step = 0; step < 2; ++step) {
            const std::int32_t one[1] = {std::int32_t(50 + step)};
            const auto p1 = engine::Positions::text(ck_cpu.length, 1);
            const std::string what = "text decode " + std::to_string(step) + " (4 splits)";
            report(what.c_str(), gpu.text().forward(one, p1, ck_gpu),
                   cpu.text().forward(one, p1, ck_cpu));
        }
    }
    {  // The whole model on the "GPU" (decoder and vision tower), as NativeVlm builds it with
       // device cuda: the CPU's greedy tokens from the golden image prompt.
        engine::VlModel all(cfg, ck);
        cuda::move_to_device(all, cfg, *ck);
        engine::VlmState as = all.new_state(), cs2 = cpu.new_state();
        std::vector<float> got = all.prefill(ids, images, as), want = cpu.prefill(ids, images, cs2);
        report("all on GPU: prefill", got, want);
        // The GPU's decode steps choose the token on the device (k::argmax; NativeVlm's cuda
        // path): only the id comes back.
        std::vector<std::int32_t> gt{argmax(got)}, wt{argmax(want)};
        for (int i = 0; i < 5; ++i) {
            gt.push_back(all.decode_choose(gt.back(), as, {}));
            want = cpu.decode(wt.back(), cs2);
            wt.push_back(argmax(want));
        }
        {  // Sampling on the device (k::sample_top_p) picks what its CPU twin picks from the
           // logits of the same step (the state copied: the decoder rewinds to its length).
            engine::VlmState s1 = as, s2 = as;
            const std::vector<float> lg = all.decode(gt.back(), s1);
            // A high temperature: the tiny model's own distribution is too sharp for u to matter.
            for (float u : {0.05f, 0.3f, 0.6f, 0.93f}) {
                engine::VlmState s = s2;
                const engine::TokenChoice c{4.0f, 0.95f, u};
                const std::int32_t dev = all.decode_choose(gt.back(), s, c);
                const std::int32_t twin =
                    cuda::sample_top_p_cpu(lg.data(), std::int64_t(lg.size()), 4.0f, 0.95f, u).id;
                std::printf("all on GPU: top-p on the device, u=%.2f: %d (twin %d)%s\n", u, dev,
                            twin, dev == twin ? "" : " DIFFER");
                bad += dev != twin;
            }
        }
        std::printf("all on GPU: greedy tokens");
        for (std::int32_t t : gt) std::printf(" %d", t);
        std::printf(" (CPU%s", gt == wt ? ": the same)\n" : ":");
        if (gt != wt) {
            for (std::int32_t t : wt) std::printf(" %d", t);
            std::printf(") DIFFER\n");
            ++bad;
        }
    }
    std::printf("%s (%zu prompt tokens, reused %lld)\n", bad ? "FAIL" : "ok", ids.size(),
                (long long)gpu.last_reused());
    return bad;
}
