// The KV cache kernels on the host (kernels.cu and flash_attention.cu emulated, see run.sh): K/V
// rows appended into an f32 and a bf16 cache (k::kv_append), then split-K decode and prefill
// (k::attention) and flash prefill (k::flash_attention_causal) over each, against a double
// reference on the same K/V (rounded to bf16 for the bf16 cache: the CPU twin's input). Also
// that the bf16 cache holds engine::f32_to_bf16 of every value, bit for bit, and how far the bf16
// cache's output moves from the f32 one (the price of halving the KV bytes).
// Then the decode step's device-KV-length kernels (k::kv_append_decode, k::attention_decode: what
// a replayed CUDA graph runs) against their twins, the host-`past` kernels with
// k::decode_splits(past) splits: the cache rows and the outputs (f32 and bf16) bit for bit, over
// f32 and bf16 caches at past 0, either side of a split boundary, long enough for 32 splits, and
// with the grid clamped below decode_splits; each from a scratch that a longer step filled first
// (the surplus splits' empty partials must hide it).
#define EMU_WITH_ENGINE
#include <cstdio>
#include <random>

#include "engine_standins.h"
#include "model/engine/cuda/flash_attention.h"
#include "model/engine/cuda/kernels.h"
#include "model/engine/dtype.h"
#include "tests/model/engine/cuda_test_support.h"

namespace k = deskpilot::model::cuda::k;
namespace engine = deskpilot::model::engine;

using deskpilot::test::cuda::randn;
static float err(const std::vector<float>& a, const std::vector<float>& b) {
    return deskpilot::test::cuda::rel_err(a, b, deskpilot::test::cuda::Scale::peak);
}

// One decode step at `past` cached tokens with the KV length on the device (an int64 in "device"
// memory, which is host memory here), on a grid of `grid` splits: 0 bad, else 1.
template <typename T>
int decode_case(std::int64_t past, int grid, const char* cache) {
    const std::int64_t NH = 4, KH = 2, D = 64, n = past + 1, cap = n + 3, row = KH * D;
    const auto rk = randn(std::size_t(n * row), 11), rv = randn(std::size_t(n * row), 12),
               q = randn(std::size_t(NH * D), 13);
    // Caches of noise past the context; the past rows, then this token's row: by the twin (host
    // past) into kh/vh and by the decode kernel into kd/vd.
    std::vector<T> kh(std::size_t(KH * cap * D), T(0x7f7f)), vh = kh;
    k::kv_append(rk.data(), rv.data(), past, KH, D, kh.data(), vh.data(), cap, 0, nullptr);
    std::vector<T> kd = kh, vd = vh;
    const std::int64_t past_d = past;
    k::kv_append(rk.data() + past * row, rv.data() + past * row, 1, KH, D, kh.data(), vh.data(),
                 cap, past, nullptr);
    k::kv_append_decode(rk.data() + past * row, rv.data() + past * row, KH, D, kd.data(), vd.data(),
                        cap, &past_d, nullptr);
    const bool rows = kd == kh && vd == vh;
    const float scale = 1.0f / std::sqrt(float(D));
    const int used = std::min(k::decode_splits(past), grid);
    std::vector<float> sh(std::size_t(k::attention_scratch_floats(1, NH, D, used))), want(q.size());
    k::attention(q.data(), 1, past, NH, KH, D, kh.data(), vh.data(), cap, scale, used, sh.data(),
                 want.data(), nullptr);
    // The scratch as a longer step leaves it: every split holding a partial (m 0.5, l 3).
    std::vector<float> sc(std::size_t(k::attention_scratch_floats(1, NH, D, grid)), 0.5f),
        got(q.size(), 99.0f);
    for (std::size_t i = 0; i < sc.size(); i += std::size_t(D + 2)) sc[i + 1] = 3.0f;
    k::attention_decode(q.data(), &past_d, NH, KH, D, kd.data(), vd.data(), cap, scale, grid,
                        sc.data(), got.data(), nullptr);
    std::vector<std::uint16_t> gb(q.size(), 0);
    k::attention_decode(q.data(), &past_d, NH, KH, D, kd.data(), vd.data(), cap, scale, grid,
                        sc.data(), gb.data(), nullptr);
    int bits = 0;
    for (std::size_t i = 0; i < gb.size(); ++i) bits += gb[i] != engine::f32_to_bf16(want[i]);
    // A non-trivial output: finite, and not all zeros.
    bool finite = true, nonzero = false;
    for (float x : got) finite &= std::isfinite(x), nonzero |= x != 0.0f;
    const bool ok = rows && got == want && bits == 0 && finite && nonzero;
    std::printf(
        "decode, device KV length: %s KV past %ld grid %d (%d with keys): cache rows %s, f32 out "
        "%s, bf16 out %s\n",
        cache, long(past), grid, used, rows ? "exact" : "DIFFER",
        got == want ? "the host-past kernel's bits" : "DIFFER",
        bits ? "DIFFER" : "the host-past kernel's bits");
    return !ok;
}

int main() {
    int bad = 0;
    // 0; 63 | 64 and 127 | 128: one below / at a split boundary; 1983 | 1984: the last growth to
    // 32 splits; 2000 past it; 1000 on a grid of 4 (fewer than decode_splits' 16).
    for (auto [past, grid] : {std::pair<std::int64_t, int>{0, 32},
                              {63, 32},
                              {64, 32},
                              {127, 32},
                              {128, 32},
                              {1983, 32},
                              {1984, 32},
                              {2000, 32},
                              {1000, 4}}) {
        bad += decode_case<float>(past, grid, "f32");
        bad += decode_case<std::uint16_t>(past, grid, "bf16");
    }
    struct C {
        std::int64_t ql, past, NH, KH, D;
        int splits;  // 0: flash
    };
    for (C c : {C{1, 100, 4, 2, 64, 1}, C{1, 100, 4, 2, 128, 4}, C{5, 9, 4, 1, 64, 1},
                C{37, 13, 4, 2, 128, 0}, C{20, 0, 2, 2, 64, 0}}) {
        const std::int64_t n = c.past + c.ql, cap = n + 5, row = c.KH * c.D;
        const auto rk = randn(std::size_t(n * row), 1), rv = randn(std::size_t(n * row), 2),
                   q = randn(std::size_t(c.ql * c.NH * c.D), 3);
        // Caches of noise past the context: reading past it would change the result.
        std::vector<float> kf(std::size_t(c.KH * cap * c.D), 1e30f), vf = kf;
        std::vector<std::uint16_t> kb(kf.size(), 0x7f7f), vb = kb;
        auto append = [&](auto* kc, auto* vc) {  // the past, then this pass, as the decoder does
            k::kv_append(rk.data(), rv.data(), c.past, c.KH, c.D, kc, vc, cap, 0, nullptr);
            k::kv_append(rk.data() + c.past * row, rv.data() + c.past * row, c.ql, c.KH, c.D, kc,
                         vc, cap, c.past, nullptr);
        };
        append(kf.data(), vf.data());
        append(kb.data(), vb.data());
        int bits = 0;
        for (std::int64_t t = 0; t < n; ++t)
            for (std::int64_t g = 0; g < c.KH; ++g)
                for (std::int64_t d = 0; d < c.D; ++d) {
                    const std::size_t at = std::size_t((g * cap + t) * c.D + d),
                                      src = std::size_t(t * row + g * c.D + d);
                    bits += kb[at] != engine::f32_to_bf16(rk[src]) ||
                            vb[at] != engine::f32_to_bf16(rv[src]) || kf[at] != rk[src];
                }
        const float scale = 1.0f / std::sqrt(float(c.D));
        auto reference = [&](bool bf16) {
            std::vector<float> out(q.size());
            auto val = [&](const std::vector<float>& r, std::int64_t t, std::int64_t g,
                           std::int64_t d) {
                const float x = r[std::size_t(t * row + g * c.D + d)];
                return double(bf16 ? engine::bf16_to_f32(engine::f32_to_bf16(x)) : x);
            };
            for (std::int64_t i = 0; i < c.ql; ++i)
                for (std::int64_t h = 0; h < c.NH; ++h) {
                    const std::int64_t g = h / (c.NH / c.KH), keys = c.past + i + 1;
                    const float* qv = &q[std::size_t((i * c.NH + h) * c.D)];
                    std::vector<double> s(static_cast<std::size_t>(keys));
                    double mx = -1e300, sum = 0;
                    for (std::int64_t t = 0; t < keys; ++t) {
                        double x = 0;
                        for (std::int64_t d = 0; d < c.D; ++d) x += qv[d] * val(rk, t, g, d);
                        mx = std::max(mx, s[std::size_t(t)] = x * scale);
                    }
                    for (auto& x : s) sum += x = std::exp(x - mx);
                    for (std::int64_t d = 0; d < c.D; ++d) {
                        double a = 0;
                        for (std::int64_t t = 0; t < keys; ++t)
                            a += s[std::size_t(t)] * val(rv, t, g, d);
                        out[std::size_t((i * c.NH + h) * c.D + d)] = float(a / sum);
                    }
                }
            return out;
        };
        auto run = [&](const auto* kc, const auto* vc) {
            std::vector<float> out(q.size(), 99.0f);
            if (c.splits == 0) {
                k::flash_attention_causal(q.data(), c.ql, c.past, c.NH, c.KH, c.D, kc, vc, cap,
                                          scale, out.data(), nullptr);
            } else {
                std::vector<float> sc(
                    std::size_t(k::attention_scratch_floats(c.ql, c.NH, c.D, c.splits)));
                k::attention(q.data(), c.ql, c.past, c.NH, c.KH, c.D, kc, vc, cap, scale, c.splits,
                             sc.data(), out.data(), nullptr);
            }
            return out;
        };
        const auto want_f = reference(false), want_b = reference(true);
        const auto got_f = run(kf.data(), vf.data()), got_b = run(kb.data(), vb.data());
        const float ef = err(got_f, want_f), eb = err(got_b, want_b), shift = err(got_b, got_f);
        std::printf(
            "%s ql %ld past %ld %ld/%ld d %ld: f32 KV %.3g, bf16 KV %.3g (vs f32 KV %.3g), "
            "bf16 bits %s\n",
            c.splits ? ("split-K x" + std::to_string(c.splits)).c_str() : "flash", long(c.ql),
            long(c.past), long(c.NH), long(c.KH), long(c.D), ef, eb, shift,
            bits ? "DIFFER" : "exact");
        // The flash case on the tensor-core kernel (DESKPILOT_CUDA_FLASH=mma) rounds Q, K, V and
        // the weights to bf16: flash_attention_check.cpp's bound for it.
        const bool mma = c.splits == 0 && k::flash_kernel() == k::FlashKernel::mma;
        const float tol = mma ? 1e-2f : 1e-5f;
        bad += !(ef < tol) + !(eb < tol) + (bits != 0);
    }
    std::printf("%s\n", bad ? "FAIL" : "ok");
    return bad;
}
