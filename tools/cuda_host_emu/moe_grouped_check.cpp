// The MoE layer grouped on the device (model/engine/cuda/moe_grouped.cu emulated, see run.sh).
// `moe_grouped_check kernels`: k::moe_group against its twin cuda::group_by_expert (the same
// integers; skewed routings whose experts span several 64-row tiles, an expert no pair chose, one
// expert, no pairs); k::moe_gemm_bf16 against a double reference on the same bf16 inputs, both
// weight layouts, with and without the row map, at sizes with partial row, column and k tiles;
// k::moe_gate_up_swiglu_bf16 against moe_gemm_bf16 + k::silu_mul_bf16 (the same bits); the
// errors for too many experts and unsupported sizes.
// `moe_grouped_check model TINY_DIR OUT_DIR`: the whole CudaTextModel on the tiny Qwen3-VL-MoE's
// bf16 copy with the grouping on the device (the default) against DESKPILOT_CUDA_MOE_GROUPING=host
// and the CPU decoder: a 40-token prefill, then greedy decode steps through the grouped path
// (DESKPILOT_CUDA_MOE=grouped), which with the device grouping is captured as a CUDA graph and
// replayed with the eager steps' tokens and logits; fused and unfused device grouping give the
// same bits.
#define EMU_WITH_ENGINE
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include <prelude.h>
#include "check_report.h"
#include "engine_standins.h"
#include "model/engine/arch/vl_model.h"
#include "model/engine/cuda/kernels.h"
#include "model/engine/cuda/moe_grouped.h"
#include "model/engine/cuda/moe_grouping.h"
#include "model/engine/cuda/text_model.h"
#include "model/engine/dtype.h"
#include "tests/model/engine/cuda_test_support.h"

namespace k = deskpilot::model::cuda::k;
namespace cuda = deskpilot::model::cuda;
namespace engine = deskpilot::model::engine;

using deskpilot::test::cuda::randn;

namespace {

std::vector<std::uint16_t> bf16_randn(std::size_t n, unsigned seed) {
    const auto f = randn(n, seed);
    std::vector<std::uint16_t> b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = engine::f32_to_bf16(f[i]);
    return b;
}

// `pairs` expert ids, skewed toward the low experts (so some span several tiles), never
// `skipped`.
std::vector<std::int32_t> routing(std::int64_t pairs, int E, int skipped, unsigned seed) {
    std::mt19937 g(seed);
    std::vector<std::int32_t> idx(static_cast<std::size_t>(pairs));
    for (auto& e : idx) {
        do {
            const double u = std::uniform_real_distribution<double>(0, 1)(g);
            e = std::int32_t(double(E) * u * u);
        } while (e == skipped && E > 1);
    }
    return idx;
}

struct Grouped {
    std::vector<std::int32_t> groups, map;  // offsets | tiles, src | row_of
    k::MoeGroups view(int E, std::int64_t pairs) const {
        return {groups.data(), groups.data() + E + 1, E, k::moe_max_tiles(pairs, E)};
    }
};

Grouped group_on_device(const std::vector<std::int32_t>& idx, int kk, int E) {
    const std::int64_t n = std::int64_t(idx.size());
    Grouped g{std::vector<std::int32_t>(std::size_t(2 * (E + 1)), -7),
              std::vector<std::int32_t>(std::size_t(2 * n + 1), -7)};
    k::moe_group(idx.data(), n, kk, E, g.groups.data(), g.groups.data() + E + 1, g.map.data(),
                 g.map.data() + n, nullptr);
    return g;
}

void check_grouping(std::int64_t pairs, int kk, int E, int skipped, unsigned seed) {
    const auto idx = routing(pairs, E, skipped, seed);
    const Grouped d = group_on_device(idx, kk, E);
    const cuda::ExpertGrouping h = cuda::group_by_expert(idx, kk, E, k::kMoeTileRows);
    const auto at = [](const std::vector<std::int32_t>& v, std::size_t from, std::size_t count) {
        return std::vector<std::int32_t>(v.begin() + std::ptrdiff_t(from),
                                         v.begin() + std::ptrdiff_t(from + count));
    };
    const std::size_t e1 = std::size_t(E) + 1, n = std::size_t(pairs);
    const bool same = at(d.groups, 0, e1) == h.offsets && at(d.groups, e1, e1) == h.tiles &&
                      at(d.map, 0, n) == h.src && at(d.map, n, n) == h.row_of;
    int widest = 0;
    for (int e = 0; e < E; ++e) widest = std::max(widest, h.offsets[e + 1] - h.offsets[e]);
    expect(same && h.tiles[std::size_t(E)] <= k::moe_max_tiles(pairs, E),
           "moe_group, " + std::to_string(pairs) + " pairs over " + std::to_string(E) +
               " experts (the widest " + std::to_string(widest) + " rows, " +
               std::to_string(h.tiles[std::size_t(E)]) + " tiles): the twin's integers");
}

// y[r] = x[src[r]] · W_e in double, for expert e's grouped rows.
std::vector<double> reference(const std::vector<std::uint16_t>& x, const std::int32_t* src,
                              std::int64_t K, const std::vector<std::uint16_t>& w, bool out_in,
                              std::int64_t N, const std::vector<std::int32_t>& offsets) {
    const std::int64_t rows = offsets.back();
    std::vector<double> y(std::size_t(rows * N));
    for (std::size_t e = 0; e + 1 < offsets.size(); ++e)
        for (std::int64_t r = offsets[e]; r < offsets[e + 1]; ++r) {
            const std::int64_t xr = src ? src[r] : r;
            const std::uint16_t* we = w.data() + std::int64_t(e) * N * K;
            for (std::int64_t n = 0; n < N; ++n) {
                double a = 0;
                for (std::int64_t c = 0; c < K; ++c)
                    a += double(engine::bf16_to_f32(x[std::size_t(xr * K + c)])) *
                         engine::bf16_to_f32(out_in ? we[n * K + c] : we[c * N + n]);
                y[std::size_t(r * N + n)] = a;
            }
        }
    return y;
}

void check_products(std::int64_t S, int kk, int E, std::int64_t K, std::int64_t F, bool out_in,
                    unsigned seed) {
    const std::int64_t pairs = S * kk;
    const auto idx = routing(pairs, E, E - 1, seed);
    const Grouped d = group_on_device(idx, kk, E);
    const cuda::ExpertGrouping h = cuda::group_by_expert(idx, kk, E, k::kMoeTileRows);
    const k::MoeGroups groups = d.view(E, pairs);
    const auto x = bf16_randn(std::size_t(S * K), seed + 1);
    const auto w = bf16_randn(std::size_t(E * 2 * F * K), seed + 2);
    const k::MoeWeights mw{w.data(), 2 * F * K, out_in, out_in ? K : 2 * F};
    const std::string shape = std::to_string(pairs) + " rows, K " + std::to_string(K) + ", 2F " +
                              std::to_string(2 * F) + (out_in ? ", out_in" : ", in_out");

    std::vector<float> gu(std::size_t(pairs * 2 * F), NAN);
    k::moe_gemm_bf16(x.data(), d.map.data(), K, mw, 2 * F, groups, gu.data(), nullptr);
    const auto ref = reference(x, h.src.data(), K, w, out_in, 2 * F, h.offsets);
    double worst = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) {
        // f32 sums of K exact products: within K · 2^-24 of their absolute sum, here below 1e-5.
        const double e = std::fabs(double(gu[i]) - ref[i]);
        worst = std::isfinite(e) ? std::max(worst, e) : INFINITY;
    }
    expect(worst <= 1e-4,
           "moe_gemm_bf16 (" + shape + ") vs double: worst " + std::to_string(worst));

    std::vector<std::uint16_t> act(std::size_t(pairs * F), 0xffff), twin(act.size());
    k::moe_gate_up_swiglu_bf16(x.data(), d.map.data(), K, mw, F, groups, act.data(), nullptr);
    k::silu_mul_bf16(gu.data(), pairs, F, twin.data(), nullptr);
    expect(act == twin,
           "moe_gate_up_swiglu_bf16 (" + shape + "): the bits of moe_gemm_bf16 + silu_mul_bf16");

    // The down form: rows read in order (no map), N = K.
    const auto a2 = bf16_randn(std::size_t(pairs * F), seed + 3);
    const auto w2 = bf16_randn(std::size_t(E * F * K), seed + 4);
    const k::MoeWeights dw{w2.data(), F * K, out_in, out_in ? F : K};
    std::vector<float> dn(std::size_t(pairs * K), NAN);
    k::moe_gemm_bf16(a2.data(), nullptr, F, dw, K, groups, dn.data(), nullptr);
    const auto ref2 = reference(a2, nullptr, F, w2, out_in, K, h.offsets);
    worst = 0;
    for (std::size_t i = 0; i < ref2.size(); ++i) {
        const double e = std::fabs(double(dn[i]) - ref2[i]);
        worst = std::isfinite(e) ? std::max(worst, e) : INFINITY;
    }
    expect(worst <= 1e-4, "moe_gemm_bf16 down form (" + std::to_string(pairs) + " rows, K " +
                              std::to_string(F) + ", N " + std::to_string(K) +
                              ") vs double: worst " + std::to_string(worst));
}

int kernels() {
    std::printf("grouping:\n");
    check_grouping(600, 8, 16, 5, 1);  // low experts over 64 rows: several tiles each
    check_grouping(7, 1, 12, 3, 2);    // fewer pairs than experts
    check_grouping(130, 2, 1, -1, 3);  // one expert: three tiles
    check_grouping(0, 2, 4, -1, 4);    // no pairs: every offset and tile 0
    check_grouping(2000, 4, 512, 0, 5);
    expect(error_of([] { group_on_device({0}, 1, k::kMoeMaxExperts + 1); }).find("513 experts") !=
               std::string::npos,
           "513 experts: a CudaError naming the count");
    std::printf("products:\n");
    check_products(150, 2, 6, 72, 40, false, 10);  // partial k step (72 = 2·32 + 8), F < 64
    check_products(150, 2, 6, 72, 40, true, 20);
    check_products(9, 3, 8, 64, 136, true, 30);  // two column tiles, the second partial
    check_products(40, 4, 4, 256, 96, false, 40);
    const std::string e = error_of([] {
        const std::int32_t g[4] = {};
        k::moe_gemm_bf16(nullptr, nullptr, 60, {nullptr, 0, true, 60}, 16, {g, g, 1, 1}, nullptr,
                         nullptr);
    });
    expect(e.find("K 60") != std::string::npos && e.find("not supported") != std::string::npos,
           "K 60 (not a multiple of 8): a CudaError naming it (" + e + ")");
    std::printf("%s\n", bad ? "FAIL" : "ok");
    return bad;
}

int model(const std::filesystem::path& tiny, const std::filesystem::path& out) {
    deskpilot::test::cuda::write_bf16_copy(tiny / "model.safetensors", out / "moe_bf16.safetensors",
                                           {});
    const auto ck = std::make_shared<const engine::Checkpoint>(out / "moe_bf16.safetensors");
    const engine::ModelConfig cfg = engine::load_model_config(tiny);
    engine::VlModel cpu(cfg, ck);
    ::setenv("DESKPILOT_CUDA_MOE", "grouped", 1);
    const auto device = cuda::CudaTextModel::upload(cpu.text(), *ck);
    const auto unfused = cuda::CudaTextModel::upload(cpu.text(), *ck);
    const auto host = cuda::CudaTextModel::upload(cpu.text(), *ck);
    const auto graphed = cuda::CudaTextModel::upload(cpu.text(), *ck);
    ::unsetenv("DESKPILOT_CUDA_MOE");
    host->set_moe_device_grouping(false);
    unfused->set_fused(false);
    device->set_graphs(false);
    unfused->set_graphs(false);
    host->set_graphs(false);
    graphed->set_graphs(true);
    std::printf("%s, %d experts, top %d:\n", engine::architecture_name(cfg.architecture),
                cfg.text.num_experts, cfg.text.num_experts_per_tok);
    expect(device->moe_device_grouping() && !host->moe_device_grouping(),
           "device grouping is the default; set_moe_device_grouping(false) turns it off");

    std::vector<std::int32_t> ids;
    for (int i = 0; i < 40; ++i) ids.push_back(std::int32_t((i * 53 + 7) % 900));
    engine::KvCache kv = cpu.text().new_cache(64);
    for (auto* m : {device.get(), unfused.get(), host.get(), graphed.get()}) m->reset(64);
    const auto pos = engine::Positions::text(0, std::int64_t(ids.size()));
    const auto d = device->forward(ids, pos, true), u = unfused->forward(ids, pos, true),
               h = host->forward(ids, pos, true), c = cpu.text().forward(ids, pos, kv, true);
    graphed->forward(ids, pos, true);
    // Device and host grouping sum each product in another order (the tensor-core tiles, the
    // emulated cuBLAS), and a last-bit difference can round a bf16 activation the other way: the
    // two differ by about 1e-3 of the logits here; both are checked against the CPU decoder.
    const float dh = deskpilot::test::cuda::rel_err(d, h),
                dc = deskpilot::test::cuda::rel_err(d, c);
    expect(d == u, "prefill, 40 tokens: fused device grouping gives the unfused one's bits");
    expect(dh <= 1e-2f, "prefill: device vs host grouping " + std::to_string(dh));
    expect(dc <= 3e-2f, "prefill: device grouping vs the CPU decoder " + std::to_string(dc));

    // Greedy decode through the grouped path: the device grouping's steps are captured.
    std::int32_t next = 0;
    {
        const std::vector<float> last(d.end() - std::ptrdiff_t(cfg.text.vocab_size), d.end());
        next = std::int32_t(std::max_element(last.begin(), last.end()) - last.begin());
    }
    bool same_tokens = true, same_bits = true;
    float worst_host = 0;
    for (int step = 0; step < 4; ++step) {
        const std::int32_t one[1] = {next};
        const auto p = engine::Positions::text(std::int64_t(ids.size()) + step, 1);
        const auto ld = device->forward(one, p), lg = graphed->forward(one, p),
                   lh = host->forward(one, p);
        same_bits = same_bits && ld == lg;
        worst_host = std::max(worst_host, deskpilot::test::cuda::rel_err(ld, lh));
        const auto arg = [](const std::vector<float>& v) {
            return std::int32_t(std::max_element(v.begin(), v.end()) - v.begin());
        };
        same_tokens = same_tokens && arg(ld) == arg(lg);
        next = arg(ld);
    }
    const auto counts = graphed->graph_counts();
    expect(
        counts.captures == 1 && counts.replays >= 2,
        "grouped decode with device grouping runs as a graph: " + std::to_string(counts.captures) +
            " capture, " + std::to_string(counts.replays) + " replays");
    expect(same_bits && same_tokens, "graph steps: the eager steps' logits, bit for bit");
    expect(worst_host <= 1e-2f,
           "decode steps: device vs host grouping " + std::to_string(worst_host));
    std::printf("%s\n", bad ? "FAIL" : "ok");
    return bad;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "kernels" && argc == 2) return kernels();
    if (mode == "model" && argc == 4) return model(argv[2], argv[3]);
    std::fprintf(stderr, "usage: moe_grouped_check kernels | moe_grouped_check model TINY OUT\n");
    return 2;
}
