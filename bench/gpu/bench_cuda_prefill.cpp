// The model's part of one agent step on the GPU for a 1920x1080 screenshot, at the real shapes of
// Qwen3-VL-30B-A3B (or, with --model qwen2_5, UI-TARS-1.5-7B = Qwen2.5-VL-7B) with random bf16
// weights generated on the GPU (no checkpoint download; bench/gpu/real_shapes.h):
//   the screenshot preprocessed by the engine (smart_resize to the family's bounds, patchify:
//   the real grid and image token count) → the CUDA vision tower → the prefill of the whole agent
//   prompt (text tokens + the image tokens, with the tower's merged and DeepStack features
//   injected as NativeVlm's path does) → the first token → the answer's decode steps
// (bench/gpu/agent_step.h says which engine entries each part uses). Prints the vision tower ms,
// the prefill ms, the time to first token, the decode ms and the sum (what bench_agent's
// --model-ms stands for: an agent step is the agent's own overhead, measured there on Xvfb, plus
// this), medians over --repeats after one warm-up step. Baseline, in the same run: a large bf16
// cuBLAS GEMM (the engine's own Blas: bf16 in, f32 accumulate and out, as the towers' and the
// decoder's GEMMs); the tower's and the prefill's achieved TFLOP/s (their GEMM and attention
// FLOPs, agent_step.h) are printed as fractions of its TFLOP/s.
//   bench_cuda_prefill [--model qwen3|qwen2_5] [--layers N] [--depth N] [--text-tokens N]
//                      [--decode-tokens N] [--repeats N] [--gemm N]
// --layers: decoder layers (default the real 48 / 28); --depth: vision blocks (27 / 32; a shrunk
// tower keeps the DeepStack / full-attention blocks below it). --text-tokens: the prompt's text
// tokens around the image (default 343: the UI-TARS-1.5 computer-use prompt in Qwen3-VL's chat
// layout with one screenshot, bench/RESULTS.md). --decode-tokens: tokens in the answer (default
// 40, a typical "Thought: … Action: click(…)"; the first comes from the prefill, the rest are
// decode steps). --gemm: the baseline GEMM's M = N = K (default 8192).
// The screenshot is synthetic desktop-like 1920x1080 pixels: the timing depends on the grid, not
// the content, and reading a PNG would tie this binary to OpenCV's libraries (deskpilot_vision's
// image_io), which bench_cuda_decode does not need either; the host emulator
// (tools/cuda_host_emu, ONLY=synthetic) runs the same step code at tiny shapes.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "bench/gpu/agent_step.h"
#include "bench/gpu/real_shapes.h"
#include "model/engine/cuda/buffer.h"
#include "model/engine/cuda/gemm.h"
#include "model/engine/cuda/kernels.h"
#include "model/engine/cuda/vision_model.h"
#include "model/engine/cuda/vision_qwen2_5.h"
#include "planner/family.h"
#include "vision/frame.h"

using namespace deskpilot;
using namespace deskpilot::bench::gpu;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// TFLOP/s of an n×n×n bf16 GEMM through the engine's Blas (f32 output), median of 10 after 2.
double gemm_tflops(int n, double& ms_out) {
    const std::int64_t N = n;
    const cuda::Stream stream;
    cuda::Blas blas(stream.get());
    cuda::DeviceBuffer x(std::size_t(N * N) * 2, "baseline GEMM x"),
        w(std::size_t(N * N) * 2, "baseline GEMM w"), y(std::size_t(N * N) * 4, "baseline GEMM y");
    cuda::k::fill_random_bf16(x.as<std::uint16_t>(), N * N, 1, 1.0f, stream.get());
    cuda::k::fill_random_bf16(w.as<std::uint16_t>(), N * N, 2, 1.0f / 90.5f, stream.get());
    auto run = [&] {
        blas.linear(x.as<std::uint16_t>(), N, N, w.as<std::uint16_t>(),
                    model::engine::cpu::Layout::out_in, N, N, y.as<float>());
    };
    for (int i = 0; i < 2; ++i) run();
    stream.sync("baseline GEMM warm-up");
    std::vector<double> ms;
    for (int i = 0; i < 10; ++i) {
        const auto t0 = Clock::now();
        run();
        stream.sync("baseline GEMM");
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    ms_out = median(ms);
    return 2.0 * double(N) * double(N) * double(N) / (ms_out * 1e-3) / 1e12;
}

// A 1920x1080 desktop-like BGRA frame: flat panels, a title bar, some text-like stripes.
vision::Frame synthetic_screen() {
    const int W = 1920, H = 1080;
    auto px = std::make_shared<std::vector<std::uint8_t>>(std::size_t(W) * H * 4);
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) {
            std::uint8_t* p = px->data() + (std::size_t(y) * W + x) * 4;
            const bool bar = y < 32, text = (y / 6) % 4 == 0 && (x / 5) % 3 != 0 && x > 200;
            const std::uint8_t v = bar ? 60 : text ? 30 : std::uint8_t(235 - (x * 20) / W);
            p[0] = v;
            p[1] = v;
            p[2] = std::uint8_t(bar ? 90 : v);
            p[3] = 255;
        }
    vision::Frame f;
    f.width = W;
    f.height = H;
    f.stride = std::size_t(W) * 4;
    f.pixels = px;
    return f;
}

int usage(const std::string& why) {
    std::fprintf(stderr,
                 "bench_cuda_prefill: %s\n"
                 "usage: bench_cuda_prefill [--model qwen3|qwen2_5] [--layers N] [--depth N]\n"
                 "       [--text-tokens N] [--decode-tokens N] [--repeats N] [--gemm N]\n",
                 why.c_str());
    return 2;
}

// A whole number >= `min` from option `name`'s value, or -1.
int whole(const std::string& name, const char* text, int min) {
    char* end = nullptr;
    const long v = std::strtol(text, &end, 10);
    if (!*text || *end || v < min || v > 1000000) {
        std::fprintf(stderr, "bench_cuda_prefill: %s wants a whole number >= %d, not '%s'\n",
                     name.c_str(), min, text);
        return -1;
    }
    return int(v);
}

}  // namespace

int main(int argc, char** argv) {
    std::string arch = "qwen3";
    int layers = 0, depth = 0, text_tokens = 343, answer = 40, repeats = 5, gemm_n = 8192;
    for (int i = 1; i < argc; i += 2) {
        const std::string a = argv[i];
        if (i + 1 >= argc) return usage(a + " needs a value");
        const char* v = argv[i + 1];
        int* target = a == "--layers"          ? &layers
                      : a == "--depth"         ? &depth
                      : a == "--text-tokens"   ? &text_tokens
                      : a == "--decode-tokens" ? &answer
                      : a == "--repeats"       ? &repeats
                      : a == "--gemm"          ? &gemm_n
                                               : nullptr;
        if (a == "--model")
            arch = v;
        else if (target) {
            const int min = a == "--text-tokens" ? 3 : a == "--gemm" ? 256 : 1;
            if ((*target = whole(a, v, min)) < 0) return 2;
        } else
            return usage("unknown option " + a);
    }
    if (arch != "qwen3" && arch != "qwen2_5")
        return usage("--model is qwen3 or qwen2_5, not " + arch);
    const bool qwen25 = arch == "qwen2_5";
    if (layers == 0) layers = qwen25 ? 28 : 48;
    if (depth == 0) depth = qwen25 ? 32 : 27;
    try {
        const int dev = cuda::choose_device();  // DESKPILOT_CUDA_DEVICE, else 0
        const cuda::DeviceInfo gpu = cuda::require_device(dev);
        std::printf("device: %s (%.1f GiB), sm_%d%d\n", gpu.name.c_str(),
                    double(gpu.total_memory) / double(1ull << 30), gpu.compute_major,
                    gpu.compute_minor);
        double gemm_ms = 0;
        const double peak = gemm_tflops(gemm_n, gemm_ms);
        std::printf(
            "baseline: cuBLAS bf16 GEMM %dx%dx%d (f32 out, the engine's Blas): %.2f ms, %.1f "
            "TFLOP/s\n",
            gemm_n, gemm_n, gemm_n, gemm_ms, peak);

        const engine::ModelConfig config =
            qwen25 ? ui_tars_1_5_7b(layers, depth) : qwen3_vl_30b_a3b(layers, depth);
        const engine::VisionConfig& vc = *config.vision;

        // The screenshot as NativeVlm prepares it: the architecture's processor with the default
        // family's resize bounds (NativeVlm::generate, native_default_family).
        const char* family_name = qwen25 ? "ui-tars-1.5" : "qwen3-vl";
        engine::PreprocessParams pp = engine::preprocess_params(config);
        if (const planner::ModelFamily* fam = planner::find_family(family_name))
            if (fam->resize.factor == pp.resize.factor) pp.resize = fam->resize;
        const vision::Frame frame = synthetic_screen();
        std::vector<double> prep_ms;
        engine::PixelValues px;
        for (int i = 0; i < 3; ++i) {
            const auto t0 = Clock::now();
            px = engine::preprocess_image(frame, pp);
            prep_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        }
        const std::int64_t image_tokens = px.merged_tokens();
        std::printf(
            "image: synthetic %dx%d -> %dx%d (family %s: factor %d, max_pixels %lld), grid "
            "%dx%dx%d = "
            "%lld patches of %lld values, %lld image tokens; preprocess %.1f ms on the host\n",
            frame.width, frame.height, px.resized.width, px.resized.height, family_name,
            pp.resize.factor, (long long)pp.resize.max_pixels, px.grid_thw[0], px.grid_thw[1],
            px.grid_thw[2], (long long)px.rows, (long long)px.cols, (long long)image_tokens,
            median(prep_ms));

        auto t0 = Clock::now();
        std::unique_ptr<engine::VisionEncoder> tower;
        if (qwen25)
            tower = cuda::CudaQwen25Vision::synthetic(config, 7, dev);
        else
            tower = cuda::CudaQwen3Vision::synthetic(config, 7, dev);
        const auto text = cuda::CudaTextModel::synthetic(config, 42, dev);
        std::string special;
        for (int b : qwen25 ? vc.fullatt_block_indexes : vc.deepstack_visual_indexes)
            special += (special.empty() ? "" : ",") + std::to_string(b);
        std::printf(
            "model: %s shapes, random bf16 weights generated on the GPU in %.1f s: vision %d "
            "blocks (hidden %d, %d heads, patch %d, %s %s), text %d layers (%.2f GB)\n",
            qwen25 ? "UI-TARS-1.5-7B (Qwen2.5-VL-7B)" : "Qwen3-VL-30B-A3B",
            std::chrono::duration<double>(Clock::now() - t0).count(), vc.depth, vc.hidden_size,
            vc.num_heads, vc.patch_size, qwen25 ? "full attention in blocks" : "DeepStack after",
            special.empty() ? "none" : special.c_str(), config.text.num_layers,
            double(text->weight_bytes()) / 1e9);

        std::printf(
            "decoder settings (environment): KV cache %s, fused epilogues %s, decode steps as CUDA "
            "graphs %s\n",
            text->kv_dtype() == cuda::KvDtype::bf16 ? "bf16" : "f32", text->fused() ? "on" : "off",
            text->graphs() ? "on" : "off");
        const std::vector<std::int32_t> ids = agent_prompt(config, image_tokens, text_tokens, 1);
        std::printf(
            "prompt: %zu tokens = %lld image + %d text; answer %d tokens (1 from the prefill, %d "
            "decode steps)\n",
            ids.size(), (long long)image_tokens, text_tokens, answer, answer - 1);

        std::vector<double> tower_ms, prefill_ms, decode_ms;
        bool finite = true;
        for (int rep = 0; rep <= repeats; ++rep) {  // rep 0: warm-up (scratch, cuBLAS plans)
            const StepResult r = agent_step(*tower, *text, px, ids, answer);
            if (r.image_tokens != image_tokens)
                throw std::runtime_error("the tower made " + std::to_string(r.image_tokens) +
                                         " tokens for " + std::to_string(image_tokens));
            finite = finite && r.features_finite && r.logits_finite;
            if (rep == 0) {
                if (!r.features_finite || !r.logits_finite)
                    std::printf("WARNING: non-finite %s on random weights\n",
                                r.features_finite ? "logits" : "vision features");
                continue;
            }
            tower_ms.push_back(r.tower_ms);
            prefill_ms.push_back(r.prefill_ms);
            decode_ms.push_back(r.decode_ms);
        }
        const double tw = median(tower_ms), pf = median(prefill_ms), dc = median(decode_ms);
        const Flops tf = tower_flops(config, px),
                    pfl = prefill_flops(config, std::int64_t(ids.size()));
        auto rate = [&](const char* what, double ms, const Flops& f) {
            const double tflops = f.total() / (ms * 1e-3) / 1e12;
            std::printf(
                "%s: %.1f ms; %.2f TFLOP (GEMMs %.2f, attention %.2f) = %.1f TFLOP/s = %.3f of "
                "the GEMM baseline\n",
                what, ms, f.total() / 1e12, f.gemm / 1e12, f.attention / 1e12, tflops,
                tflops / peak);
        };
        std::printf("median of %d steps after a warm-up:\n", repeats);
        rate("vision tower", tw, tf);
        rate("prefill", pf, pfl);
        std::printf("time to first token (tower + prefill + first token): %.1f ms\n", tw + pf);
        if (answer > 1)
            std::printf("decode: %d steps in %.1f ms (%.2f ms/token, %.1f tok/s)\n", answer - 1, dc,
                        dc / (answer - 1), (answer - 1) / (dc * 1e-3));
        std::printf(
            "model part of an agent step (tower + prefill + decode): %.1f ms; with the host "
            "preprocessing: %.1f ms\n",
            tw + pf + dc, tw + pf + dc + median(prep_ms));
        if (!finite) std::printf("WARNING: non-finite values in some step (see above)\n");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_cuda_prefill: %s\n", e.what());
        return 1;
    }
    return 0;
}
