// The bf16-activation GEMMs (cpu/gemm_bf16.h, AVX512_BF16) against the f32-activation AVX-512F
// kernels on the same bf16 weights, one thread, at the Qwen3-30B-A3B widths the decoder runs:
// q_proj (out_in 2048 -> 4096), fused expert gate_up (in_out 2048 -> 1536) and down (in_out
// 768 -> 2048), for row counts from decode (1) to prefill. Prints one line per shape and row
// count with the median GMAC/s of both and their ratio; kBf16MinRows is chosen from these.
//   bench_engine_linear_bf16 [--reps N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "model/engine/cpu/gemm_bf16.h"
#include "model/engine/cpu/linear.h"

using namespace deskpilot::model::engine;

namespace {

template <class F>
double median_seconds(int reps, F&& f) {
    std::vector<double> t;
    f();  // warm-up
    for (int i = 0; i < reps; ++i) {
        const auto a = std::chrono::steady_clock::now();
        f();
        t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    int reps = 7;
    for (int i = 1; i + 1 < argc; i += 2)
        if (std::strcmp(argv[i], "--reps") == 0) reps = std::max(1, std::atoi(argv[i + 1]));
    if (!cpu::cpu_has_avx512_bf16()) {
        std::fprintf(stderr, "this CPU has no AVX512_BF16: nothing to compare\n");
        return 1;
    }
    cpu::ThreadPool pool(1);
    struct Shape {
        const char* name;
        cpu::Layout layout;
        std::int64_t K, N;
    };
    const Shape shapes[] = {{"q_proj out_in", cpu::Layout::out_in, 2048, 4096},
                            {"gate_up in_out", cpu::Layout::in_out, 2048, 1536},
                            {"down in_out", cpu::Layout::in_out, 768, 2048}};
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> ud(-1.0f, 1.0f);
    std::printf("%-16s %5s %12s %12s %8s\n", "shape", "rows", "f32 GMAC/s", "bf16 GMAC/s", "ratio");
    for (const Shape& s : shapes) {
        const std::int64_t rows = s.layout == cpu::Layout::out_in ? s.N : s.K;
        const std::int64_t cols = s.layout == cpu::Layout::out_in ? s.K : s.N;
        Tensor w = Tensor::zeros(DType::BF16, {rows, cols});
        for (std::int64_t i = 0; i < rows * cols; ++i)
            w.data<std::uint16_t>()[i] = f32_to_bf16(ud(rng) * 0.05f);
        const auto view = cpu::WeightView::of(w, s.layout);
        for (std::int64_t M : {1, 2, 3, 4, 6, 8, 16, 32, 64, 128}) {
            std::vector<float> x(std::size_t(M * s.K)), y(std::size_t(M * s.N));
            for (float& v : x) v = ud(rng);
            const double f32 = median_seconds(
                reps, [&] { cpu::linear(x.data(), M, view, y.data(), pool, cpu::Isa::avx512); });
            const double bf16 = median_seconds(reps, [&] {
                cpu::linear_bf16_activations(x.data(), M, view, y.data(), pool, true);
            });
            const double macs = double(M) * s.K * s.N * 1e-9;
            std::printf("%-16s %5lld %12.2f %12.2f %7.2fx\n", s.name, (long long)M, macs / f32,
                        macs / bf16, f32 / bf16);
        }
    }
    return 0;
}
