// Prefill attention at real shapes, every figure a median of 5 and each comparison a ratio of
// two kernels timed in this run:
// - causal text prefill (Qwen3-VL-30B-A3B's 32/4 heads × 128): the tensor-core flash kernel
//   (FlashKernel::mma), the f32 flash kernel and the split-K kernel the flash one replaced;
// - the vision towers' segment attention for a 1920x1080 screenshot (Qwen3-VL: one segment of
//   8160 patches, 16 heads × 72; Qwen2.5-VL: 10764 patches in windows of 64, 16 heads × 80),
//   mma against f32.
// In ms and GFLOP/s (4·hd flops per query-key pair). Inputs are constant: speed only (the
// kernels' parity is test_cuda_kernels').
//   bench_cuda_attention [--tokens N]   (text prompt length, default 2700)
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "model/engine/cuda/buffer.h"
#include "model/engine/cuda/device.h"
#include "model/engine/cuda/flash_attention.h"
#include "model/engine/cuda/kernels.h"
#include "model/engine/vision/qwen2_5_vision.h"

using namespace deskpilot::model;

namespace {

// Median of 5 timed runs after one warm-up, in ms (CUDA events on the default stream).
double time_ms(const std::function<void()>& run) {
    run();
    cudaDeviceSynchronize();
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    std::vector<double> ms;
    for (int i = 0; i < 5; ++i) {
        cudaEventRecord(a);
        run();
        cudaEventRecord(b);
        cudaEventSynchronize(b);
        float t = 0;
        cudaEventElapsedTime(&t, a, b);
        ms.push_back(t);
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    std::sort(ms.begin(), ms.end());
    return ms[2];
}

cuda::DeviceBuffer filled(std::int64_t n, float v, const char* name) {
    cuda::DeviceBuffer b(std::size_t(n) * 4, name);
    cuda::k::fill_f32(b.as<float>(), n, v, nullptr);
    return b;
}

// The median ms of `run` with the flash kernel `kernel`.
double time_with(cuda::k::FlashKernel kernel, const std::function<void()>& run) {
    cuda::k::set_flash_kernel(kernel);
    return time_ms(run);
}

void segments(const char* what, std::int64_t S, std::int64_t heads, std::int64_t hd,
              const std::vector<std::int64_t>& seg) {
    const std::int64_t hid = heads * hd;
    auto qkv = filled(S * 3 * hid, 0.01f, "qkv"), out = filled(S * hid, 0.0f, "out");
    const std::vector<std::int32_t> s32(seg.begin(), seg.end());
    cuda::DeviceBuffer sd(s32.size() * 4, "segments");
    sd.upload(s32.data(), sd.bytes());
    double pairs = 0;
    for (std::size_t i = 0; i + 1 < seg.size(); ++i)
        pairs += double(seg[i + 1] - seg[i]) * double(seg[i + 1] - seg[i]);
    const auto run = [&] {
        cuda::k::flash_attention_segments(qkv.as<float>(), S, heads, hd, sd.as<std::int32_t>(),
                                          std::int64_t(seg.size()) - 1, out.as<float>(), nullptr);
    };
    const double mma = time_with(cuda::k::FlashKernel::mma, run),
                 f32 = time_with(cuda::k::FlashKernel::f32, run);
    const double gflop = 4.0 * double(hd) * pairs * double(heads) / 1e6;
    std::printf(
        "%s: %lld patches, %zu segments, %lld heads x %lld: mma %.2f ms (%.0f GFLOP/s), f32 %.2f "
        "ms (%.0f GFLOP/s); mma is %.2fx faster\n",
        what, static_cast<long long>(S), seg.size() - 1, static_cast<long long>(heads),
        static_cast<long long>(hd), mma, gflop / mma, f32, gflop / f32, f32 / mma);
}

}  // namespace

int main(int argc, char** argv) {
    std::int64_t tokens = 2700;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::string(argv[i]) == "--tokens") {
            tokens = std::atoll(argv[i + 1]);
        } else {
            std::fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (tokens < 1) {
        std::fprintf(stderr, "--tokens must be at least 1\n");
        return 2;
    }
    try {
        const cuda::DeviceInfo gpu = cuda::require_device(0);
        std::printf("device: %s, sm_%d%d\n", gpu.name.c_str(), gpu.compute_major,
                    gpu.compute_minor);
        // Qwen3-VL-30B-A3B's text attention: 32 query heads, 4 KV heads, head_dim 128.
        const std::int64_t NH = 32, KH = 4, D = 128, cap = tokens;
        auto q = filled(tokens * NH * D, 0.01f, "q"), kc = filled(KH * cap * D, 0.01f, "k"),
             vc = filled(KH * cap * D, 0.01f, "v"), out = filled(tokens * NH * D, 0.0f, "out"),
             scratch = filled(cuda::k::attention_scratch_floats(tokens, NH, D, 1), 0.0f, "scratch");
        const float scale = 0.08838835f;
        const auto flash = [&] {
            cuda::k::flash_attention_causal(q.as<float>(), tokens, 0, NH, KH, D, kc.as<float>(),
                                            vc.as<float>(), cap, scale, out.as<float>(), nullptr);
        };
        const double mma = time_with(cuda::k::FlashKernel::mma, flash),
                     f32 = time_with(cuda::k::FlashKernel::f32, flash);
        const double split = time_ms([&] {
            cuda::k::attention(q.as<float>(), tokens, 0, NH, KH, D, kc.as<float>(), vc.as<float>(),
                               cap, scale, 1, scratch.as<float>(), out.as<float>(), nullptr);
        });
        const double pairs = double(tokens) * double(tokens + 1) / 2 * double(NH);
        const double gflop = 4.0 * double(D) * pairs / 1e6;
        std::printf(
            "causal prefill, %lld tokens, %lld/%lld heads x %lld: flash mma %.2f ms (%.0f "
            "GFLOP/s), "
            "flash f32 %.2f ms (%.0f GFLOP/s), split-K kernel %.2f ms; mma is %.2fx f32, f32 is "
            "%.2fx split-K\n",
            static_cast<long long>(tokens), static_cast<long long>(NH), static_cast<long long>(KH),
            static_cast<long long>(D), mma, gflop / mma, f32, gflop / f32, split, f32 / mma,
            split / f32);
        segments("Qwen3-VL vision, 1920x1088 (120x68 patches)", 8160, 16, 72, {0, 8160});
        const auto win = engine::window_layout(78, 138, 2, 4);
        segments("Qwen2.5-VL vision, 1932x1092 (138x78 patches), windows", 10764, 16, 80,
                 win.cu_seqlens);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_cuda_attention: %s\n", e.what());
        return 1;
    }
    return 0;
}
