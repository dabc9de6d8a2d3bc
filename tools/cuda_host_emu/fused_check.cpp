// The decoder's fused epilogues on the host (kernels.cu emulated, see run.sh).
// `fused_check kernels`: k::rms_norm_bf16 (f32 and bf16 outputs, in place, f32 skipped),
// k::silu_mul_bf16 and k::add_bias_qkv against a double reference and their unfused twins
// (rms_norm / silu_mul then engine::f32_to_bf16, three add_bias): the bf16 outputs must be the
// twins' bits exactly; k::qk_norm_rope_append(_decode), k::gemv_silu_bf16,
// k::gemv_silu_combine_bf16, k::gemv_route_bf16, k::gemv_bf16_stacked with biases and the GEMVs
// with the norm prologue (k::gemv_norm_swiglu_bf16, and the stacked and router GEMVs given a
// GemvNorm)
// and the split-K attention merged in its own launch (head_done) the bits of the launches each
// replaces.
// `fused_check launches TINY_DIR OUT_DIR`: the whole CudaTextModel fused (the default) and unfused
// (DESKPILOT_CUDA_FUSED=0) on the tiny checkpoint's bf16 copy: kernel launches (prelude.h's
// g_launches) and cuBLAS calls (engine_standins.h's g_blas_calls) per greedy decode step, before
// and after as a ratio, and the two models' logits, which must be bit for bit the same here (the
// emulated GEMM adds its product to the residual as k::add did), and within the usual tolerance
// of the CPU decoder's. A third model, fused with the decode step as a CUDA graph
// (DESKPILOT_CUDA_GRAPHS=1), gives the fused model's bits; its host calls per greedy step (graph
// launches, kernels, cuBLAS calls and copies made on the stream, on a replayed step) are counted
// beside the calls its one capture recorded (prelude.h's g_captured).
#define EMU_WITH_ENGINE
#include <algorithm>
#include <array>
#include <cstdio>
#include <random>

#include <prelude.h>  // g_launches (the kernels themselves are in k_eng.o, see run.sh)
#include "engine_standins.h"
#include "model/engine/arch/vl_model.h"
#include "model/engine/cpu/ops.h"
#include "model/engine/cuda/gemv.h"
#include "model/engine/cuda/kernels.h"
#include "model/engine/cuda/pdl.h"
#include "model/engine/cuda/text_model.h"
#include "model/engine/cuda/vision_kernels.h"
#include "model/engine/dtype.h"
#include "tests/model/engine/cuda_test_support.h"

namespace k = deskpilot::model::cuda::k;
namespace cuda = deskpilot::model::cuda;
namespace engine = deskpilot::model::engine;

using deskpilot::test::cuda::randn;
static std::vector<std::uint16_t> bits_of(const std::vector<float>& v) {
    std::vector<std::uint16_t> b(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) b[i] = engine::f32_to_bf16(v[i]);
    return b;
}
// max |a - ref| / max |ref| (the reference computed in double, compared in float), a in f32 or
// as bf16 bits.
static double err(const std::vector<float>& a, const std::vector<double>& ref) {
    return deskpilot::test::cuda::rel_err(a, std::vector<float>(ref.begin(), ref.end()),
                                          deskpilot::test::cuda::Scale::peak);
}
static double err(const std::vector<std::uint16_t>& a, const std::vector<double>& ref) {
    std::vector<float> f(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) f[i] = engine::bf16_to_f32(a[i]);
    return err(f, ref);
}

static int kernels() {
    int bad = 0;
    auto verdict = [&](const char* what, double e, double tol, bool exact) {
        std::printf("%-34s vs double %.3g, bf16 bits %s\n", what, e, exact ? "exact" : "DIFFER");
        bad += !(e <= tol) + !exact;
    };
    // Rounding to bf16 (8 significant bits) moves a value by at most 2^-8 of it: the bf16
    // outputs' bound against the double reference (the f32 ones are within float rounding).
    const double bf16_tol = 1.0 / 256 + 1e-6;
    for (auto [rows, d] : {std::pair{3, 64}, std::pair{5, 2048}, std::pair{7 * 4, 128}}) {
        const auto x = randn(std::size_t(rows * d), 1), w = randn(std::size_t(d), 2);
        std::vector<double> ref(x.size());
        for (int r = 0; r < rows; ++r) {
            double ss = 0;
            for (int i = 0; i < d; ++i)
                ss += double(x[std::size_t(r * d + i)]) * x[std::size_t(r * d + i)];
            const double inv = 1.0 / std::sqrt(ss / d + 1e-6);
            for (int i = 0; i < d; ++i)
                ref[std::size_t(r * d + i)] = w[std::size_t(i)] * (x[std::size_t(r * d + i)] * inv);
        }
        std::vector<float> f(x.size()), twin(x.size()), inplace = x;
        std::vector<std::uint16_t> b(x.size()), b_only(x.size()), b_inplace(x.size());
        k::rms_norm(x.data(), w.data(), rows, d, 1e-6f, twin.data(), nullptr);
        k::rms_norm_bf16(x.data(), w.data(), rows, d, 1e-6f, f.data(), b.data(), nullptr);
        k::rms_norm_bf16(x.data(), w.data(), rows, d, 1e-6f, nullptr, b_only.data(), nullptr);
        k::rms_norm_bf16(inplace.data(), w.data(), rows, d, 1e-6f, inplace.data(), b_inplace.data(),
                         nullptr);  // in place, as the q/k norm runs
        const auto want = bits_of(twin);
        const std::string what = "rms_norm_bf16 " + std::to_string(rows) + "x" + std::to_string(d);
        std::printf("%-34s f32 out vs double %.3g, the same as rms_norm: %s\n", what.c_str(),
                    err(f, ref), f == twin && inplace == twin ? "yes" : "NO");
        bad += !(err(f, ref) < 1e-6) + !(f == twin && inplace == twin);
        verdict(what.c_str(), err(b, ref), bf16_tol,
                b == want && b_only == want && b_inplace == want);
    }
    {
        const std::int64_t rows = 9, F = 768;
        const auto gu = randn(std::size_t(rows * 2 * F), 4, 3.0f);
        std::vector<double> ref(std::size_t(rows * F));
        for (std::int64_t r = 0; r < rows; ++r)
            for (std::int64_t j = 0; j < F; ++j) {
                const double g = gu[std::size_t(r * 2 * F + j)];
                ref[std::size_t(r * F + j)] =
                    g / (1 + std::exp(-g)) * gu[std::size_t(r * 2 * F + F + j)];
            }
        std::vector<float> twin(ref.size());
        std::vector<std::uint16_t> b(ref.size());
        k::silu_mul(gu.data(), rows, F, twin.data(), nullptr);
        k::silu_mul_bf16(gu.data(), rows, F, b.data(), nullptr);
        verdict("silu_mul_bf16 9x768", err(b, ref), bf16_tol, b == bits_of(twin));
    }
    {  // Qwen2-style shapes: more q heads than k/v heads.
        const std::int64_t S = 5, nq = 4 * 64, nkv = 2 * 64;
        const auto q = randn(std::size_t(S * nq), 5), kk = randn(std::size_t(S * nkv), 6),
                   v = randn(std::size_t(S * nkv), 7), bq = randn(std::size_t(nq), 8),
                   bk = randn(std::size_t(nkv), 9), bv = randn(std::size_t(nkv), 10);
        auto q1 = q, k1 = kk, v1 = v, q2 = q, k2 = kk, v2 = v;
        k::add_bias_qkv(q1.data(), bq.data(), nq, k1.data(), bk.data(), v1.data(), bv.data(), nkv,
                        S, nullptr);
        k::add_bias(q2.data(), bq.data(), S, nq, nullptr);
        k::add_bias(k2.data(), bk.data(), S, nkv, nullptr);
        k::add_bias(v2.data(), bv.data(), S, nkv, nullptr);
        std::vector<double> ref;
        for (std::int64_t t = 0; t < S; ++t)
            for (std::int64_t c = 0; c < nq; ++c)
                ref.push_back(double(q[std::size_t(t * nq + c)]) + bq[std::size_t(c)]);
        const bool same = q1 == q2 && k1 == k2 && v1 == v2;
        std::printf("%-34s q vs double %.3g, the same as 3 add_bias: %s\n",
                    "add_bias_qkv 5x(256|128|128)", err(q1, ref), same ? "yes" : "NO");
        bad += !(err(q1, ref) < 1e-7) + !same;
    }
    {  // q/k norm + rotary of q and k in one launch, against the CPU twins (cpu::rms_norm,
       // Rope::tables, apply_rope) and bit for bit against rms_norm + rope; with and without norm.
        const std::int64_t D = 128, half = D / 2, S = 3, NH = 4, KH = 2;
        const std::vector<int> section{24, 20, 20};  // interleaved MRoPE, Qwen3-VL's
        const engine::cpu::Rope rope(int(D), 5e6, section, true);
        std::vector<std::int32_t> pos(3 * S), axis(static_cast<std::size_t>(half));
        for (std::size_t i = 0; i < pos.size(); ++i) pos[i] = std::int32_t(7 + 13 * i);
        for (std::int64_t j = 0; j < half; ++j) axis[std::size_t(j)] = rope.axis(int(j));
        const auto q = randn(std::size_t(S * NH * D), 11), kk = randn(std::size_t(S * KH * D), 12),
                   wq = randn(std::size_t(D), 13), wk = randn(std::size_t(D), 14);
        for (bool norm : {true, false}) {
            auto q1 = q, k1 = kk, q2 = q, k2 = kk, q3 = q, k3 = kk;
            k::qk_norm_rope(q1.data(), k1.data(), S, NH, KH, half, norm ? wq.data() : nullptr,
                            norm ? wk.data() : nullptr, 1e-6f, pos.data(), rope.inv_freq.data(),
                            axis.data(), nullptr);
            if (norm) {
                k::rms_norm(q2.data(), wq.data(), S * NH, D, 1e-6f, q2.data(), nullptr);
                k::rms_norm(k2.data(), wk.data(), S * KH, D, 1e-6f, k2.data(), nullptr);
                engine::cpu::rms_norm(q.data(), wq.data(), S * NH, D, 1e-6f, q3.data());
                engine::cpu::rms_norm(kk.data(), wk.data(), S * KH, D, 1e-6f, k3.data());
            }
            k::rope(q2.data(), S, NH, half, pos.data(), rope.inv_freq.data(), axis.data(), nullptr);
            k::rope(k2.data(), S, KH, half, pos.data(), rope.inv_freq.data(), axis.data(), nullptr);
            std::vector<float> cs(std::size_t(half), 0), sn(std::size_t(half), 0);
            for (std::int64_t t = 0; t < S; ++t) {
                rope.tables(pos[std::size_t(t)], pos[std::size_t(S + t)],
                            pos[std::size_t(2 * S + t)], cs.data(), sn.data());
                engine::cpu::apply_rope(q3.data() + t * NH * D, NH, half, cs.data(), sn.data());
                engine::cpu::apply_rope(k3.data() + t * KH * D, KH, half, cs.data(), sn.data());
            }
            const float e = std::max(deskpilot::test::cuda::rel_err(q1, q3),
                                     deskpilot::test::cuda::rel_err(k1, k3));
            const bool same = q1 == q2 && k1 == k2;
            std::printf("%-34s vs CPU twin %.3g, the same as the unfused kernels: %s\n",
                        norm ? "qk_norm_rope 3x(4|2)x128" : "qk_norm_rope, no norm", e,
                        same ? "yes" : "NO");
            bad += !(e <= 1e-5f) + !same;
        }
    }
    {  // A decode step's q/k norm + rotary + KV append in one launch: the bits of qk_norm_rope
       // then kv_append_decode in q, k and both caches, f32 and bf16, with and without norm.
        const std::int64_t D = 128, half = D / 2, NH = 4, KH = 2, cap = 9, past = 6;
        const engine::cpu::Rope rope(int(D), 5e6, std::vector<int>{24, 20, 20}, true);
        std::vector<std::int32_t> pos{31, 17, 5}, axis(static_cast<std::size_t>(half));
        for (std::int64_t j = 0; j < half; ++j) axis[std::size_t(j)] = rope.axis(int(j));
        const auto q = randn(std::size_t(NH * D), 21), kk = randn(std::size_t(KH * D), 22),
                   v = randn(std::size_t(KH * D), 23), wq = randn(std::size_t(D), 24),
                   wk = randn(std::size_t(D), 25), noise = randn(std::size_t(KH * cap * D), 26);
        const std::vector<std::uint16_t> noise_b = bits_of(noise);
        bool same = true;
        for (bool norm : {true, false}) {
            auto run = [&](auto cache_noise) {
                auto q1 = q, k1 = kk, q2 = q, k2 = kk;
                auto kc1 = cache_noise, vc1 = cache_noise, kc2 = cache_noise, vc2 = cache_noise;
                const float* nq = norm ? wq.data() : nullptr;
                const float* nk = norm ? wk.data() : nullptr;
                k::qk_norm_rope_append_decode(q1.data(), k1.data(), v.data(), NH, KH, half, nq, nk,
                                              1e-6f, pos.data(), rope.inv_freq.data(), axis.data(),
                                              kc1.data(), vc1.data(), cap, &past, nullptr);
                k::qk_norm_rope(q2.data(), k2.data(), 1, NH, KH, half, nq, nk, 1e-6f, pos.data(),
                                rope.inv_freq.data(), axis.data(), nullptr);
                k::kv_append_decode(k2.data(), v.data(), KH, D, kc2.data(), vc2.data(), cap, &past,
                                    nullptr);
                // The host-past form (an eager step): the same bits again.
                auto q3 = q, k3 = kk;
                auto kc3 = cache_noise, vc3 = cache_noise;
                k::qk_norm_rope_append(q3.data(), k3.data(), v.data(), NH, KH, half, nq, nk, 1e-6f,
                                       pos.data(), rope.inv_freq.data(), axis.data(), kc3.data(),
                                       vc3.data(), cap, past, nullptr);
                return q1 == q2 && k1 == k2 && kc1 == kc2 && vc1 == vc2 && kc1 != cache_noise &&
                       q3 == q1 && k3 == k1 && kc3 == kc1 && vc3 == vc1;
            };
            same = same && run(noise) && run(noise_b);
        }
        std::printf("%-34s the bits of qk_norm_rope + kv_append(_decode): %s\n",
                    "qk_norm_rope_append(_decode)", same ? "yes" : "NO");
        bad += !same;
    }
    {  // The down GEMV computing SwiGLU's activation: the bits of silu_mul_bf16 + gemv_bf16 over
       // 3 slots of experts 2, 0, 2 (in_out weights [F, N] per expert), vector and element loads.
        for (std::int64_t N : {64, 36}) {
            const std::int64_t F = 96, E = 3;
            const int slots = 3;
            const std::vector<std::int32_t> expert{2, 0, 2};
            const auto gu = randn(std::size_t(slots * 2 * F), 27);
            const auto w = bits_of(randn(std::size_t(E * F * N), 28));
            std::vector<std::uint16_t> act(std::size_t(slots * F));
            k::silu_mul_bf16(gu.data(), slots, F, act.data(), nullptr);
            std::vector<float> y1(std::size_t(slots * N), 0.5f), y2 = y1;
            k::gemv_silu_bf16(gu.data(), 2 * F, F, w.data(), F * N, expert.data(), N, N, y1.data(),
                              N, slots, true, nullptr);
            k::gemv_bf16(act.data(), F, F, w.data(), F * N, expert.data(), false, N, N, y2.data(),
                         N, slots, true, nullptr);
            std::printf("gemv_silu_bf16 3x96 -> %-14ld the bits of silu_mul_bf16 + gemv_bf16: %s\n",
                        long(N), y1 == y2 ? "yes" : "NO");
            bad += !(y1 == y2);
            // Combined into a residual by the last block of each column tile: moe_combine's bits,
            // the counters back at zero.
            const std::vector<float> weight{0.5f, 0.3f, 0.2f};
            const auto x0 = randn(std::size_t(N), 29);
            std::vector<float> x1 = x0, x2 = x0, p1(std::size_t(slots * N)), p2 = p1;
            std::vector<unsigned> done(std::size_t(N / k::kGemvTileCols + 1), 0u);
            k::gemv_silu_combine_bf16(gu.data(), 2 * F, F, w.data(), F * N, expert.data(), N, N,
                                      p1.data(), slots, weight.data(), x1.data(), done.data(),
                                      nullptr);
            k::gemv_silu_bf16(gu.data(), 2 * F, F, w.data(), F * N, expert.data(), N, N, p2.data(),
                              N, slots, false, nullptr);
            k::moe_combine(x2.data(), p2.data(), nullptr, weight.data(), 1, slots, N, nullptr);
            const bool zero = std::all_of(done.begin(), done.end(), [](unsigned c) { return !c; });
            std::printf(
                "gemv_silu_combine_bf16 -> %-12ld the bits of + moe_combine: %s, counters "
                "zero: %s\n",
                long(N), x1 == x2 && p1 == p2 ? "yes" : "NO", zero ? "yes" : "NO");
            bad += !(x1 == x2 && p1 == p2) + !zero;
        }
    }
    {  // The router GEMV choosing the experts in its last block: the bits of gemv_bf16 then
       // route_top_k (logits, indices, weights), the counter back at zero, normalised or not.
        const std::int64_t K = 64, E = 60;
        const auto x = bits_of(randn(std::size_t(K), 37));
        const auto w = bits_of(randn(std::size_t(E * K), 38));
        bool same = true, zero = true;
        for (bool norm : {true, false}) {
            std::vector<float> l1(static_cast<std::size_t>(E)), l2 = l1, w1(4), w2(4);
            std::vector<std::int32_t> i1(4), i2(4);
            unsigned done = 0;
            k::gemv_route_bf16(x.data(), K, w.data(), E, K, l1.data(), 4, norm, i1.data(),
                               w1.data(), &done, nullptr);
            k::gemv_bf16(x.data(), 0, K, w.data(), 0, nullptr, true, E, K, l2.data(), 0, 1, false,
                         nullptr);
            k::route_top_k(l2.data(), 1, E, 4, norm, i2.data(), w2.data(), nullptr);
            same = same && l1 == l2 && i1 == i2 && w1 == w2;
            zero = zero && done == 0;
        }
        std::printf("%-34s the bits of gemv_bf16 + route_top_k: %s, counter zero: %s\n",
                    "gemv_route_bf16 60 experts, top 4", same ? "yes" : "NO", zero ? "yes" : "NO");
        bad += !same + !zero;
    }
    {  // q, k and v with their biases as the stacked GEMV's epilogue: the bits of the stacked
       // GEMV then add_bias_qkv.
        const std::int64_t K = 64, nq = 48, nkv = 16;
        const auto x = bits_of(randn(std::size_t(K), 30));
        const auto wq = bits_of(randn(std::size_t(nq * K), 31)),
                   wk = bits_of(randn(std::size_t(nkv * K), 32)),
                   wv = bits_of(randn(std::size_t(nkv * K), 33));
        const auto bq = randn(std::size_t(nq), 34), bk = randn(std::size_t(nkv), 35),
                   bv = randn(std::size_t(nkv), 36);
        std::vector<float> q1(static_cast<std::size_t>(nq)), k1(static_cast<std::size_t>(nkv)),
            v1 = k1, q2 = q1, k2 = k1, v2 = k1;
        const k::GemvPart with[3] = {{wq.data(), nq, K, q1.data(), bq.data()},
                                     {wk.data(), nkv, K, k1.data(), bk.data()},
                                     {wv.data(), nkv, K, v1.data(), bv.data()}};
        const k::GemvPart without[3] = {{wq.data(), nq, K, q2.data()},
                                        {wk.data(), nkv, K, k2.data()},
                                        {wv.data(), nkv, K, v2.data()}};
        k::gemv_bf16_stacked(x.data(), K, with, 3, nullptr);
        k::gemv_bf16_stacked(x.data(), K, without, 3, nullptr);
        k::add_bias_qkv(q2.data(), bq.data(), nq, k2.data(), bk.data(), v2.data(), bv.data(), nkv,
                        1, nullptr);
        const bool same = q1 == q2 && k1 == k2 && v1 == v2;
        std::printf("%-34s the bits of + add_bias_qkv: %s\n", "gemv_bf16_stacked with biases",
                    same ? "yes" : "NO");
        bad += !same;
    }
    {  // The GEMVs that normalise their own input (the norm prologue): the bits of rms_norm_bf16
       // then the plain GEMV, for rows summed by 128 threads (K < 1024: half the GEMV block) and
       // by 512 (two passes of its 256), with 16-byte loads and without (K % 8 != 0); the router's
       // row left in norm.out is rms_norm_bf16's; the dense gate/up with SwiGLU
       // (gemv_norm_swiglu_bf16) the bits of rms_norm_bf16 + gemv_bf16 + silu_mul_bf16. A row over
       // kGemvNormMaxK is a CudaError.
        bool same = true;
        for (const std::int64_t K : {64, 1000, 2048}) {
            // At K 64 the SwiGLU and stacked grids reach the 512-block cap (over 4096 rows), so
            // their warps also take a second row.
            const std::int64_t F = K == 64 ? 4104 : 10, N = 2 * F, nkv = 6, E = 12;
            const auto x = randn(std::size_t(K), 40), g = randn(std::size_t(K), 41);
            const auto w = bits_of(randn(std::size_t(N * K), 42));
            std::vector<std::uint16_t> hb(static_cast<std::size_t>(K)), out(hb.size());
            k::rms_norm_bf16(x.data(), g.data(), 1, K, 1e-6f, nullptr, hb.data(), nullptr);
            const k::GemvNorm norm{x.data(), g.data(), 1e-6f};
            std::vector<float> gu(static_cast<std::size_t>(N));
            std::vector<std::uint16_t> act1(static_cast<std::size_t>(F)), act2 = act1;
            k::gemv_norm_swiglu_bf16(norm, K, w.data(), F, K, act1.data(), nullptr);
            k::gemv_bf16(hb.data(), 0, K, w.data(), 0, nullptr, true, N, K, gu.data(), 0, 1, false,
                         nullptr);
            k::silu_mul_bf16(gu.data(), 1, F, act2.data(), nullptr);
            same = same && act1 == act2;
            std::vector<float> a1(static_cast<std::size_t>(N + 2 * nkv)), a2 = a1;
            auto parts = [&](std::vector<float>& y) {
                return std::array<k::GemvPart, 3>{
                    k::GemvPart{w.data(), N, K, y.data()},
                    k::GemvPart{w.data() + (N - nkv) * K, nkv, K, y.data() + N},
                    k::GemvPart{w.data() + 2 * K, nkv, K, y.data() + N + nkv}};
            };
            k::gemv_bf16_stacked(norm, K, parts(a1).data(), 3, nullptr);
            k::gemv_bf16_stacked(hb.data(), K, parts(a2).data(), 3, nullptr);
            same = same && a1 == a2;
            std::vector<float> l1(static_cast<std::size_t>(E)), l2 = l1, w1(3), w2(3);
            std::vector<std::int32_t> i1(3), i2(3);
            unsigned done = 0;
            k::gemv_route_bf16(k::GemvNorm{x.data(), g.data(), 1e-6f, out.data()}, K, w.data(), E,
                               K, l1.data(), 3, true, i1.data(), w1.data(), &done, nullptr);
            k::gemv_route_bf16(hb.data(), K, w.data(), E, K, l2.data(), 3, true, i2.data(),
                               w2.data(), &done, nullptr);
            same = same && l1 == l2 && i1 == i2 && w1 == w2 && out == hb && done == 0;
        }
        bool refused = false;
        try {
            const std::vector<float> big(std::size_t(k::kGemvNormMaxK + 8), 1.0f);
            const std::vector<std::uint16_t> w(big.size(), 0);
            std::vector<std::uint16_t> act(1);
            k::gemv_norm_swiglu_bf16(k::GemvNorm{big.data(), big.data(), 1e-6f},
                                     std::int64_t(big.size()), w.data(), 1,
                                     std::int64_t(big.size()), act.data(), nullptr);
        } catch (const cuda::CudaError& e) {
            refused = std::string(e.what()).find("at most 8192") != std::string::npos;
        }
        std::printf("%-34s the bits of rms_norm_bf16 + the GEMV: %s, a longer row refused: %s\n",
                    "GEMVs with the norm prologue", same ? "yes" : "NO", refused ? "yes" : "NO");
        bad += !same + !refused;
    }
    {  // Split-K attention writing its output as bf16: the f32 output's bits, for both caches.
        const std::int64_t NH = 4, KH = 2, D = 64, past = 70, cap = 80;
        const auto q = randn(std::size_t(NH * D), 15), kv = randn(std::size_t(KH * cap * D), 16);
        const auto kvb = bits_of(kv);
        std::vector<float> sc(std::size_t(k::attention_scratch_floats(1, NH, D, 3)));
        auto same_bits = [&](const auto* cache) {
            std::vector<float> f(q.size());
            std::vector<std::uint16_t> b(q.size());
            k::attention(q.data(), 1, past, NH, KH, D, cache, cache, cap, 0.125f, 3, sc.data(),
                         f.data(), nullptr);
            k::attention(q.data(), 1, past, NH, KH, D, cache, cache, cap, 0.125f, 3, sc.data(),
                         b.data(), nullptr);
            return b == bits_of(f);
        };
        const bool same = same_bits(kv.data()) && same_bits(kvb.data());
        std::printf("%-34s the f32 output's bf16 bits (f32 and bf16 KV): %s\n",
                    "attention, bf16 output", same ? "yes" : "NO");
        bad += !same;
    }
    {  // Split-K attention merged by each head's last split block (head_done) in the one launch:
       // the bits of the two-launch merge, eager (host past) and device-past forms, f32 and bf16
       // KV and outputs, the counters back at zero. Device past 70 takes 2 of the grid's 5 splits,
       // so the merging block also skips empty partials.
        const std::int64_t NH = 4, KH = 2, D = 64, past = 70, cap = 80;
        const auto q = randn(std::size_t(NH * D), 17), kv = randn(std::size_t(KH * cap * D), 18);
        const auto kvb = bits_of(kv);
        const std::int64_t past_d[1] = {past};
        std::vector<float> sc(std::size_t(k::attention_scratch_floats(1, NH, D, 5)));
        std::vector<unsigned> done(std::size_t(NH), 0u);
        bool same = true;
        auto check = [&](const auto* cache, auto* out1, auto* out2) {
            k::attention(q.data(), 1, past, NH, KH, D, cache, cache, cap, 0.125f, 3, sc.data(),
                         out1, nullptr);
            k::attention(q.data(), 1, past, NH, KH, D, cache, cache, cap, 0.125f, 3, sc.data(),
                         out2, nullptr, done.data());
            same = same && std::equal(out1, out1 + NH * D, out2);
            k::attention_decode(q.data(), past_d, NH, KH, D, cache, cache, cap, 0.125f, 5,
                                sc.data(), out1, nullptr);
            k::attention_decode(q.data(), past_d, NH, KH, D, cache, cache, cap, 0.125f, 5,
                                sc.data(), out2, nullptr, done.data());
            same = same && std::equal(out1, out1 + NH * D, out2);
        };
        std::vector<float> f1(q.size()), f2(q.size());
        std::vector<std::uint16_t> b1(q.size()), b2(q.size());
        check(kv.data(), f1.data(), f2.data());
        check(kvb.data(), f1.data(), f2.data());
        check(kv.data(), b1.data(), b2.data());
        check(kvb.data(), b1.data(), b2.data());
        const bool zero = std::all_of(done.begin(), done.end(), [](unsigned c) { return c == 0; });
        std::printf("%-34s the bits of the merge launch: %s, counters zero: %s\n",
                    "attention merged in its launch", same ? "yes" : "NO", zero ? "yes" : "NO");
        bad += !same + !zero;
    }
    std::printf("%s\n", bad ? "FAIL" : "ok");
    return bad;
}

static int launches(const std::filesystem::path& tiny, const std::filesystem::path& out) {
    deskpilot::test::cuda::write_bf16_copy(tiny / "model.safetensors",
                                           out / "fused_bf16.safetensors", {});
    const auto ck = std::make_shared<const engine::Checkpoint>(out / "fused_bf16.safetensors");
    const engine::ModelConfig cfg = engine::load_model_config(tiny);
    engine::VlModel cpu(cfg, ck);
    ::setenv("DESKPILOT_CUDA_FUSED", "0", 1);
    const auto unfused = cuda::CudaTextModel::upload(cpu.text(), *ck);
    ::unsetenv("DESKPILOT_CUDA_FUSED");
    const auto fused = cuda::CudaTextModel::upload(cpu.text(), *ck);
    const auto graphed = cuda::CudaTextModel::upload(cpu.text(), *ck);
    unfused->set_graphs(false);  // graphs are on by default: the eager sequences are counted
    fused->set_graphs(false);
    graphed->set_graphs(true);
    std::vector<std::int32_t> ids;
    for (int i = 0; i < 12; ++i) ids.push_back(std::int32_t((i * 37 + 11) % 900));
    engine::KvCache kv = cpu.text().new_cache(64);
    fused->reset(64);
    unfused->reset(64);
    graphed->reset(64);
    int bad = 0;
    auto compare = [&](const char* what, const std::vector<float>& f, const std::vector<float>& u,
                       const std::vector<float>& c) {
        const float e = deskpilot::test::cuda::rel_err(f, c);
        std::printf("  %-22s fused vs unfused: %s; vs CPU %.3g\n", what,
                    f == u ? "bit for bit" : "DIFFER", e);
        bad += (f != u) + !(e <= 3e-2f);
    };
    const auto pos = engine::Positions::text(0, std::int64_t(ids.size()));
    std::printf("%s:\n", engine::architecture_name(cfg.architecture));
    compare("prefill (12 tokens)", fused->forward(ids, pos, true), unfused->forward(ids, pos, true),
            cpu.text().forward(ids, pos, kv, true));
    graphed->forward(ids, pos, true);
    long before[2] = {}, after[2] = {};  // {kernels, cuBLAS} per step
    // Host calls per greedy step, fused eager and with the graph (the last step's: a replay):
    // {graph launches, kernels, cuBLAS, copies}, and the calls the graph's one capture recorded.
    long eager_calls[4] = {}, graph_calls[4] = {}, recorded = 0;
    auto calls = [&](cuda::CudaTextModel& m, const std::int32_t* one, const engine::Positions& p,
                     long* into) {
        const long g0 = g_graph_launches, l0 = g_launches, b0 = g_blas_calls, c0 = g_memcpys,
                   r0 = g_captured;
        const std::int32_t id = m.forward_greedy(std::span(one, 1), p);
        into[0] = g_graph_launches - g0;
        into[1] = g_launches - l0;
        into[2] = g_blas_calls - b0;
        into[3] = g_memcpys - c0;
        if (g_captured > r0) recorded = g_captured - r0;  // the step that was captured
        return id;
    };
    std::int32_t next = 50;
    for (int step = 0; step < 3; ++step) {
        const std::int32_t one[1] = {next};
        const auto p1 = engine::Positions::text(kv.length, 1);
        const std::string what = "decode " + std::to_string(step);
        const std::vector<float> f1 = fused->forward(one, p1);
        compare(what.c_str(), f1, unfused->forward(one, p1), cpu.text().forward(one, p1, kv));
        const bool same = graphed->forward(one, p1) == f1;
        std::printf("  %-22s with the graph: %s\n", what.c_str(), same ? "bit for bit" : "DIFFER");
        bad += !same;
        // A greedy step (NativeVlm's decode: the token chosen on the device), counted.
        const std::int32_t two[1] = {std::int32_t(next + 1)};
        const auto p2 = engine::Positions::text(kv.length, 1);
        const std::vector<float> want = cpu.text().forward(two, p2, kv);
        auto count = [&](cuda::CudaTextModel& m, long* into) {
            const long l0 = g_launches, b0 = g_blas_calls;
            const std::int32_t id = m.forward_greedy(two, p2);
            into[0] = g_launches - l0;
            into[1] = g_blas_calls - b0;
            return id;
        };
        const std::int32_t fid = count(*fused, after), uid = count(*unfused, before);
        // The same step again on the fused model (rewound) and on the graph, counting host calls.
        fused->rewind(fused->length() - 1);
        const std::int32_t eid = calls(*fused, two, p2, eager_calls),
                           gid = calls(*graphed, two, p2, graph_calls);
        if (gid != fid || eid != fid) {
            std::printf("  greedy step %d with the graph: token %d, fused %d DIFFER\n", step, gid,
                        fid);
            ++bad;
        }
        const auto cid = std::int32_t(std::max_element(want.begin(), want.end()) - want.begin());
        std::printf("  greedy step %d: token %d fused, %d unfused, %d CPU%s\n", step, fid, uid, cid,
                    fid == uid && uid == cid ? "" : " DIFFER");
        bad += fid != uid || uid != cid;
        next = fid;
    }
    const long b = before[0] + before[1], a = after[0] + after[1];
    std::printf(
        "  launches per decode step (%d layers): unfused %ld (%ld kernels + %ld cuBLAS), "
        "fused %ld (%ld + %ld): ratio %.3f\n",
        cfg.text.num_layers, b, before[0], before[1], a, after[0], after[1], double(a) / double(b));
    bad += !(a < b);
    const long e = eager_calls[1] + eager_calls[2] + eager_calls[3],
               g = graph_calls[0] + graph_calls[1] + graph_calls[2] + graph_calls[3];
    std::printf(
        "  host calls per greedy decode step: eager %ld (%ld kernels + %ld cuBLAS + %ld copies), "
        "with the graph %ld (%ld graph launch + %ld kernels + %ld cuBLAS + %ld copies; %ld calls "
        "recorded into the graph by the capture)\n",
        e, eager_calls[1], eager_calls[2], eager_calls[3], g, graph_calls[0], graph_calls[1],
        graph_calls[2], graph_calls[3], recorded);
    const cuda::GraphCounts gc = graphed->graph_counts();
    std::printf("  graph: %lld captures, %lld instantiations, %lld updates, %lld replays\n",
                (long long)gc.captures, (long long)gc.instantiations, (long long)gc.updates,
                (long long)gc.replays);
    // One launch, the argmax kernel and the token's download: the step itself is in the graph,
    // whose recorded calls are the eager step's (its kernels, GEMMs and the staging copy). The
    // graph steps: the first decode step eager, its greedy twin captured, the 4 after replayed.
    bad += !(graph_calls[0] == 1 && graph_calls[1] == 1 && graph_calls[2] == 0 &&
             graph_calls[3] == 1 && recorded + 2 == e && gc.captures == 1 &&
             gc.instantiations == 1 && gc.replays == 4);
    {  // Programmatic dependent launch on (pdl.h): the next step's logits are the same bits, eager
       // and on the graph (captured again: the step's launches changed), and the step's in-layer
       // kernels ask for it (here a launch like any other: the emulator runs kernels in order).
        const std::int32_t one[1] = {next};
        const auto p1 = engine::Positions::text(fused->length(), 1);
        const std::vector<float> off = fused->forward(one, p1);
        fused->rewind(fused->length() - 1);
        k::set_pdl(true);
        const long p0 = g_pdl_launches, l0 = g_launches;
        const std::vector<float> on = fused->forward(one, p1);
        const long asked = g_pdl_launches - p0, launched = g_launches - l0;
        const bool graph_same = graphed->forward(one, p1) == off;
        k::set_pdl(false);
        const bool recaptured = graphed->graph_counts().captures == 2;
        std::printf(
            "  with programmatic dependent launch: eager %s, graph %s (captured again: %s); "
            "%ld of the step's %ld kernels launched with it\n",
            on == off ? "bit for bit" : "DIFFER", graph_same ? "bit for bit" : "DIFFER",
            recaptured ? "yes" : "NO", asked, launched);
        bad += (on != off) + !graph_same + !recaptured + !(asked > 0 && asked < launched);
    }
    std::printf("%s\n", bad ? "FAIL" : "ok");
    return bad;
}

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "kernels" && argc == 2) return kernels();
    if (mode == "launches" && argc == 4) return launches(argv[2], argv[3]);
    std::fprintf(stderr, "usage: fused_check kernels | fused_check launches TINY_DIR OUT_DIR\n");
    return 2;
}
