// One MoE layer's experts for a prefill, at Qwen3-VL-30B-A3B's shapes by default (hidden 2048,
// 128 experts of width 768, top 8) with random bf16 weights and a random routing generated here:
//   baseline, host grouping: the routing downloaded, the stream synchronised, the pairs grouped on
//     the host and the maps uploaded, the rows gathered, one cuBLAS GEMM per chosen expert for
//     gate/up, silu_mul_bf16, one per expert for down, the combine (CudaTextModel's path with
//     DESKPILOT_CUDA_MOE_GROUPING=host);
//   device grouping: k::moe_group, moe_gate_up_swiglu_bf16, moe_gemm_bf16, the combine (the
//     default path, model/engine/cuda/moe_grouped.h);
// and, as the ceiling, one dense cuBLAS GEMM pair with the same rows and shapes (every row through
// one expert's weights). Prints medians (ms and TFLOP/s of the experts' products) and the device
// grouping's speed as a ratio to the host grouping's, measured in the same run, and checks that the
// two give the same layer output within bf16 rounding.
//   bench_cuda_moe [--tokens N] [--experts E] [--top K] [--hidden H] [--width F]
//                  [--layout in_out|out_in] [--repeats N]
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "model/engine/cuda/buffer.h"
#include "model/engine/cuda/device.h"
#include "model/engine/cuda/gemm.h"
#include "model/engine/cuda/kernels.h"
#include "model/engine/cuda/moe_grouped.h"
#include "model/engine/cuda/moe_grouping.h"
#include "model/engine/dtype.h"

using namespace deskpilot::model;
using Clock = std::chrono::steady_clock;
using engine::cpu::Layout;

namespace {

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

template <typename F>
double median_ms(const cuda::Stream& stream, int repeats, F&& run) {
    run();  // warm-up: cuBLAS plans, first touches
    stream.sync("warm-up");
    std::vector<double> ms;
    for (int i = 0; i < repeats; ++i) {
        const auto t0 = Clock::now();
        run();
        stream.sync("timed run");
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    return median(ms);
}

int usage(const std::string& why) {
    std::fprintf(stderr,
                 "bench_cuda_moe: %s\n"
                 "usage: bench_cuda_moe [--tokens N] [--experts E] [--top K] [--hidden H]\n"
                 "       [--width F] [--layout in_out|out_in] [--repeats N]\n",
                 why.c_str());
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    long tokens = 2700, experts = 128, top = 8, hidden = 2048, width = 768, repeats = 20;
    std::string layout = "in_out";
    for (int i = 1; i < argc; i += 2) {
        const std::string a = argv[i];
        if (i + 1 >= argc) return usage(a + " needs a value");
        if (a == "--layout") {
            layout = argv[i + 1];
            continue;
        }
        long* target = a == "--tokens"    ? &tokens
                       : a == "--experts" ? &experts
                       : a == "--top"     ? &top
                       : a == "--hidden"  ? &hidden
                       : a == "--width"   ? &width
                       : a == "--repeats" ? &repeats
                                          : nullptr;
        if (!target) return usage("unknown option " + a);
        char* end = nullptr;
        *target = std::strtol(argv[i + 1], &end, 10);
        if (!*argv[i + 1] || *end || *target < 1)
            return usage(a + " wants a whole number >= 1, not '" + argv[i + 1] + "'");
    }
    if (layout != "in_out" && layout != "out_in")
        return usage("--layout is in_out or out_in, not " + layout);
    if (top > experts) return usage("--top is at most --experts");
    const bool out_in = layout == "out_in";
    const std::int64_t S = tokens, H = hidden, F = width, n = S * top;
    const int E = int(experts), K = int(top);
    if (!cuda::k::moe_grouped_supports(H, 2 * F, out_in ? H : 2 * F, E) ||
        !cuda::k::moe_grouped_supports(F, H, out_in ? F : H, E))
        return usage("the device grouping needs --hidden and --width multiples of 8 and at most " +
                     std::to_string(cuda::k::kMoeMaxExperts) + " experts");
    try {
        const cuda::DeviceInfo gpu = cuda::require_device(0);
        std::printf("device: %s (%.1f GiB), sm_%d%d\n", gpu.name.c_str(),
                    double(gpu.total_memory) / double(1ull << 30), gpu.compute_major,
                    gpu.compute_minor);
        std::printf(
            "MoE layer: %lld tokens x top %d of %d experts (%lld rows), hidden %lld, width %lld, "
            "%s weights\n",
            (long long)S, K, E, (long long)n, (long long)H, (long long)F, layout.c_str());
        const cuda::Stream stream;
        void* s = stream.get();
        cuda::Blas blas(s);
        cuda::DeviceBuffer workspace(std::size_t(32) << 20, "cuBLAS workspace");
        blas.set_workspace(workspace.get(), workspace.bytes());

        // Each token's K distinct experts, uniformly (a router's choices are skewed in a real
        // model; uniform is the host grouping's best case: the fewest rows per cuBLAS call's
        // largest expert).
        std::mt19937 rng(5);
        std::vector<std::int32_t> idx(static_cast<std::size_t>(n));
        std::vector<std::int32_t> all(static_cast<std::size_t>(E));
        std::iota(all.begin(), all.end(), 0);
        for (std::int64_t t = 0; t < S; ++t) {
            std::shuffle(all.begin(), all.end(), rng);
            std::copy(all.begin(), all.begin() + K, idx.begin() + t * K);
        }
        std::vector<float> wt(idx.size(), 1.0f / float(K));
        cuda::DeviceBuffer idx_d(idx.size() * 4, "routing"), wt_d(wt.size() * 4, "weights");
        idx_d.upload(idx.data(), idx_d.bytes());
        wt_d.upload(wt.data(), wt_d.bytes());

        cuda::DeviceBuffer gate_up(std::size_t(E) * std::size_t(2 * F * H) * 2, "gate_up"),
            down(std::size_t(E) * std::size_t(F * H) * 2, "down");
        cuda::k::fill_random_bf16(gate_up.as<std::uint16_t>(), E * 2 * F * H, 1,
                                  1.0f / std::sqrt(float(H)), s);
        cuda::k::fill_random_bf16(down.as<std::uint16_t>(), E * F * H, 2,
                                  1.0f / std::sqrt(float(F)), s);
        cuda::DeviceBuffer h(std::size_t(S * H) * 4, "h f32"), hb(std::size_t(S * H) * 2, "h bf16");
        {
            cuda::k::fill_random_bf16(hb.as<std::uint16_t>(), S * H, 3, 1.0f, s);
            // The f32 rows the host path gathers: the bf16 rows widened (the same inputs).
            std::vector<std::uint16_t> b(std::size_t(S * H));
            stream.sync("random rows");
            hb.download(b.data(), b.size() * 2);
            std::vector<float> f(b.size());
            for (std::size_t i = 0; i < b.size(); ++i) f[i] = engine::bf16_to_f32(b[i]);
            h.upload(f.data(), h.bytes());
        }
        cuda::DeviceBuffer x0(std::size_t(S * H) * 4, "residual");
        x0.zero();
        cuda::DeviceBuffer x_host(x0.bytes(), "residual, host grouping"),
            x_dev(x0.bytes(), "residual, device grouping");
        cuda::DeviceBuffer map(std::size_t(2 * n) * 4, "map"),
            groups(std::size_t(2 * (E + 1)) * 4, "groups"), xe(std::size_t(n * H) * 2, "xe"),
            gu(std::size_t(n * 2 * F) * 4, "gu"), ab(std::size_t(n * F) * 2, "act"),
            dn(std::size_t(n * H) * 4, "down out");
        const Layout lay = out_in ? Layout::out_in : Layout::in_out;
        std::int32_t* map_d = map.as<std::int32_t>();

        auto host_grouped = [&] {
            std::vector<std::int32_t> got(idx.size());
            idx_d.download(got.data(), got.size() * 4);  // the routing, after a synchronisation
            const cuda::ExpertGrouping g = cuda::group_by_expert(got, K, E, cuda::k::kMoeTileRows);
            map.upload(g.src.data(), g.src.size() * 4);
            map.upload(g.row_of.data(), g.row_of.size() * 4, g.src.size() * 4);
            cuda::k::gather_rows_bf16(h.as<float>(), map_d, n, H, xe.as<std::uint16_t>(), s);
            for (int e = 0; e < E; ++e) {
                const std::int64_t off = g.offsets[std::size_t(e)],
                                   rows = g.offsets[std::size_t(e) + 1] - off;
                if (rows > 0)
                    blas.linear(xe.as<std::uint16_t>() + off * H, rows, H,
                                gate_up.as<std::uint16_t>() + e * 2 * F * H, lay, 2 * F,
                                out_in ? H : 2 * F, gu.as<float>() + off * 2 * F);
            }
            cuda::k::silu_mul_bf16(gu.as<float>(), n, F, ab.as<std::uint16_t>(), s);
            for (int e = 0; e < E; ++e) {
                const std::int64_t off = g.offsets[std::size_t(e)],
                                   rows = g.offsets[std::size_t(e) + 1] - off;
                if (rows > 0)
                    blas.linear(ab.as<std::uint16_t>() + off * F, rows, F,
                                down.as<std::uint16_t>() + e * F * H, lay, H, out_in ? F : H,
                                dn.as<float>() + off * H);
            }
            cuda::k::moe_combine(x_host.as<float>(), dn.as<float>(), map_d + n, wt_d.as<float>(), S,
                                 K, H, s);
        };
        std::int32_t* gd = groups.as<std::int32_t>();
        const cuda::k::MoeGroups mg{gd, gd + E + 1, E, cuda::k::moe_max_tiles(n, E)};
        const cuda::k::MoeWeights gw{gate_up.as<std::uint16_t>(), 2 * F * H, out_in,
                                     out_in ? H : 2 * F},
            dw{down.as<std::uint16_t>(), F * H, out_in, out_in ? F : H};
        auto device_grouped = [&] {
            cuda::k::moe_group(idx_d.as<std::int32_t>(), n, K, E, gd, gd + E + 1, map_d, map_d + n,
                               s);
            cuda::k::moe_gate_up_swiglu_bf16(hb.as<std::uint16_t>(), map_d, H, gw, F, mg,
                                             ab.as<std::uint16_t>(), s);
            cuda::k::moe_gemm_bf16(ab.as<std::uint16_t>(), nullptr, F, dw, H, mg, dn.as<float>(),
                                   s);
            cuda::k::moe_combine(x_dev.as<float>(), dn.as<float>(), map_d + n, wt_d.as<float>(), S,
                                 K, H, s);
        };
        // The ceiling: the same rows through one expert's matrices, two dense GEMMs.
        auto dense = [&] {
            blas.linear(xe.as<std::uint16_t>(), n, H, gate_up.as<std::uint16_t>(), lay, 2 * F,
                        out_in ? H : 2 * F, gu.as<float>());
            blas.linear(ab.as<std::uint16_t>(), n, F, down.as<std::uint16_t>(), lay, H,
                        out_in ? F : H, dn.as<float>());
        };

        // Equal outputs first (one run each from a zero residual), then the timings.
        x_host.zero();
        x_dev.zero();
        host_grouped();
        device_grouped();
        stream.sync("outputs");
        std::vector<float> a(std::size_t(S * H)), b(a.size());
        x_host.download(a.data(), a.size() * 4);
        x_dev.download(b.data(), b.size() * 4);
        double worst = 0, peak = 0;
        for (std::size_t i = 0; i < a.size(); ++i) {
            worst = std::max(worst, double(std::fabs(a[i] - b[i])));
            peak = std::max(peak, double(std::fabs(a[i])));
        }
        const double rel = peak > 0 ? worst / peak : INFINITY;
        std::printf("layer output, device vs host grouping: %.3g of the peak (%s)\n", rel,
                    rel <= 1e-2 ? "ok" : "DIFFER");

        const double flops = 2.0 * double(n) * double(H) * double(3 * F);
        const double host_ms = median_ms(stream, int(repeats), host_grouped);
        const double dev_ms = median_ms(stream, int(repeats), device_grouped);
        const double dense_ms = median_ms(stream, int(repeats), dense);
        auto line = [&](const char* what, double ms) {
            std::printf("%-46s %8.3f ms  %6.1f TFLOP/s\n", what, ms, flops / (ms * 1e-3) / 1e12);
        };
        line("host grouping + cuBLAS per expert (baseline)", host_ms);
        line("device grouping, grouped tensor-core kernels", dev_ms);
        line("ceiling: two dense cuBLAS GEMMs, same rows", dense_ms);
        std::printf(
            "device grouping: %.2fx the host grouping's speed; %.2f of the dense ceiling's "
            "(medians of %ld)\n",
            host_ms / dev_ms, dense_ms / dev_ms, repeats);
        return rel <= 1e-2 ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_cuda_moe: %s\n", e.what());
        return 1;
    }
}
