// Every CUDA kernel against its CPU twin, cuBLAS GEMMs against cpu::linear, the CUDA decoder
// against the CPU decoder on the tiny checkpoint, and a clear out-of-memory error. Labelled
// `gpu`: each case skips cleanly where no GPU is present (or the build has no CUDA).
#include <QtTest>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "model/engine/arch/qwen3_vl_moe.h"
#include "model/engine/arch/text_decoder.h"
#include "model/engine/config.h"
#include "model/engine/cpu/linear.h"
#include "model/engine/cpu/ops.h"
#include "model/engine/cuda/device.h"
#include "model/engine/cuda/text_model.h"
#include "model/engine/vision/qwen2_5_vision.h"
#include "model/engine/vision/vision_blocks.h"
#ifdef DESKPILOT_HAVE_CUDA
#include "model/engine/cuda/buffer.h"
#include "model/engine/cuda/flash_attention.h"
#include "model/engine/cuda/gemm.h"
#include "model/engine/cuda/gemv.h"
#include "model/engine/cuda/kernels.h"
#include "model/engine/cuda/moe_grouped.h"
#include "model/engine/cuda/pdl.h"
#include "model/engine/cuda/vision_kernels.h"
#endif
#include "model/engine/cuda/moe_grouping.h"
#include "model/engine/cuda/sample_twin.h"

using namespace deskpilot::model;
namespace engine = deskpilot::model::engine;
namespace vblocks = deskpilot::model::engine::vblocks;

namespace {

// The vision towers' patch orders: raster (Qwen3-VL; window 0) or Qwen2.5-VL's window order
// (`window` merged patches a side), for a gh × gw grid with 2×2 merging.
std::vector<std::int64_t> patch_order(int gh, int gw, int window) {
    if (window > 0) return engine::window_patch_order(engine::window_layout(gh, gw, 2, window), 2);
    std::vector<std::int64_t> order(static_cast<std::size_t>(gh) * std::size_t(gw));
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = std::int64_t(i);
    return order;
}

[[maybe_unused]] std::vector<float> randn(std::size_t n, std::uint64_t seed, float scale = 1.0f) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

// A tiny checkpoint under tests/data (a _data row's `dir`) and its CPU decoder.
std::pair<std::shared_ptr<engine::Checkpoint>, std::unique_ptr<engine::TextDecoder>> load_tiny(
    const QString& dir) {
    const std::filesystem::path path =
        std::filesystem::path(DESKPILOT_TEST_DATA_DIR) / dir.toStdString();
    auto ck = std::make_shared<engine::Checkpoint>(path);
    auto cpu = engine::make_text_decoder(engine::load_model_config(path), ck);
    return {std::move(ck), std::move(cpu)};
}

// max |a - b| / (1 + max |b|): one number per comparison, printed when it fails.
float rel_err(const std::vector<float>& a, const std::vector<float>& b) {
    float worst = 0, mag = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        worst = std::max(worst, std::fabs(a[i] - b[i]));
        mag = std::max(mag, std::fabs(b[i]));
    }
    return a.size() == b.size() ? worst / (1.0f + mag) : INFINITY;
}

// max |a - b| / max |b|: the flash attention checks' measure (outputs shrink with the number of
// keys, so the error is taken relative to the largest output, not to 1 + it).
float err_vs_peak(const std::vector<float>& a, const std::vector<float>& b) {
    float worst = 0, mag = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        worst = std::max(worst, std::fabs(a[i] - b[i]));
        mag = std::max(mag, std::fabs(b[i]));
    }
    return a.size() == b.size() && mag > 0 ? worst / mag : INFINITY;
}

#ifdef DESKPILOT_HAVE_CUDA
// The two flash attention kernels (flash_attention.h) and what each may differ from the f32 twin:
// the f32 one only by summation order; the tensor-core one by rounding Q, K, V and the softmax
// weights to bf16 (about 2^-9 each; the host emulator measured at most 0.61% of the largest
// output on its cases, tools/cuda_host_emu/flash_attention_check.cpp).
constexpr float kFlashMmaTolerance = 1e-2f;
struct FlashKernelCase {
    cuda::k::FlashKernel kernel;
    const char* name;
};
constexpr FlashKernelCase kFlashKernels[] = {{cuda::k::FlashKernel::f32, "f32"},
                                             {cuda::k::FlashKernel::mma, "mma"}};
// Sets the process's flash kernel for a scope, then puts back what was chosen before.
struct FlashKernelScope {
    cuda::k::FlashKernel before = cuda::k::flash_kernel();
    explicit FlashKernelScope(cuda::k::FlashKernel k) { cuda::k::set_flash_kernel(k); }
    ~FlashKernelScope() { cuda::k::set_flash_kernel(before); }
};
#endif

#define CLOSE(a, b, tol)                                                         \
    do {                                                                         \
        const float e_ = rel_err(a, b);                                          \
        QVERIFY2(e_ <= (tol), qPrintable(QString("relative error %1").arg(e_))); \
    } while (0)

#ifdef DESKPILOT_HAVE_CUDA
template <typename T>
cuda::DeviceBuffer dev(const std::vector<T>& v, const char* name = "test") {
    cuda::DeviceBuffer b(v.size() * sizeof(T), name);
    b.upload(v.data(), b.bytes());
    return b;
}
template <typename T>
std::vector<T> host(const cuda::DeviceBuffer& b, std::size_t n) {
    std::vector<T> v(n);
    b.download(v.data(), n * sizeof(T));
    return v;
}
std::vector<std::uint16_t> to_bf16(const std::vector<float>& v) {
    std::vector<std::uint16_t> o(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) o[i] = engine::f32_to_bf16(v[i]);
    return o;
}
std::vector<float> round_bf16(const std::vector<float>& v) {
    std::vector<float> o(v.size());
    for (std::size_t i = 0; i < v.size(); ++i)
        o[i] = engine::bf16_to_f32(engine::f32_to_bf16(v[i]));
    return o;
}
#endif

}  // namespace

class CudaKernelsTest : public QObject {
    Q_OBJECT

    bool skip() { return cuda::devices().empty(); }

    // With `var` set to `value`, `read` throws one CudaError naming both; `var` is unset after.
    template <typename F>
    static bool rejectsEnv(const char* var, const char* value, F read) {
        qputenv(var, value);
        bool named = false;
        try {
            read();
            qWarning("%s=%s was accepted", var, value);
        } catch (const cuda::CudaError& e) {
            named = QString(e.what()).contains(QString("%1='%2'").arg(var, value));
            if (!named) qWarning("%s", e.what());
        }
        qunsetenv(var);
        return named;
    }
#define NEED_GPU() \
    if (skip()) QSKIP("no CUDA device on this machine (or no CUDA in this build)")

  private slots:
#ifdef DESKPILOT_HAVE_CUDA
    // Also the fused rms_norm → bf16 GEMM input: its bf16 output is the bits of the unfused
    // pair's (rms_norm, then engine::f32_to_bf16), with or without the f32 copy and in place.
    void rmsNormAndQkNorm() {
        NEED_GPU();
        for (auto [rows, d] : {std::pair{7, 2048}, std::pair{7 * 32, 128}, std::pair { 3, 64 }}) {
            const auto x = randn(std::size_t(rows * d), 1), w = randn(std::size_t(d), 2);
            std::vector<float> want(x.size());
            engine::cpu::rms_norm(x.data(), w.data(), rows, d, 1e-6f, want.data());
            auto xd = dev(x), wd = dev(w);
            cuda::DeviceBuffer f(x.size() * 4, "f32"), twin(x.size() * 4, "twin"),
                b(x.size() * 2, "bf16"), b_only(x.size() * 2, "bf16 only");
            cuda::k::rms_norm(xd.as<float>(), wd.as<float>(), rows, d, 1e-6f, twin.as<float>(),
                              nullptr);
            cuda::k::rms_norm_bf16(xd.as<float>(), wd.as<float>(), rows, d, 1e-6f, f.as<float>(),
                                   b.as<std::uint16_t>(), nullptr);
            cuda::k::rms_norm_bf16(xd.as<float>(), wd.as<float>(), rows, d, 1e-6f, nullptr,
                                   b_only.as<std::uint16_t>(), nullptr);
            const auto tw = host<float>(twin, x.size());
            CLOSE(tw, want, 1e-5f);
            QCOMPARE(host<float>(f, x.size()), tw);
            QCOMPARE(host<std::uint16_t>(b, x.size()), to_bf16(tw));
            QCOMPARE(host<std::uint16_t>(b_only, x.size()), to_bf16(tw));
            cuda::k::rms_norm_bf16(xd.as<float>(), wd.as<float>(), rows, d, 1e-6f, xd.as<float>(),
                                   b.as<std::uint16_t>(), nullptr);  // in place
            QCOMPARE(host<float>(xd, x.size()), tw);
            QCOMPARE(host<std::uint16_t>(b, x.size()), to_bf16(tw));
            xd.upload(x.data(), xd.bytes());
            cuda::k::rms_norm(xd.as<float>(), wd.as<float>(), rows, d, 1e-6f, xd.as<float>(),
                              nullptr);  // in place, as for q/k norm
            CLOSE(host<float>(xd, x.size()), want, 1e-5f);
        }
    }

    void mropeBothLayouts() {
        NEED_GPU();
        struct Case {
            std::vector<int> section;
            bool interleaved;
        };
        for (const Case& c : {Case{{24, 20, 20}, true}, Case{{16, 24, 24}, false}, Case {
                                  {},
                                  false
                              }}) {
            const int D = 128, half = D / 2, S = 5, heads = 4;
            const engine::cpu::Rope rope(D, 5e6, c.section, c.interleaved);
            std::vector<std::int32_t> pos(3 * S), axis(static_cast<std::size_t>(half));
            for (int i = 0; i < S; ++i) {
                pos[std::size_t(i)] = 100 + i;
                pos[std::size_t(S + i)] = 3 * i;
                pos[std::size_t(2 * S + i)] = 4000 - 7 * i;
            }
            for (int j = 0; j < half; ++j) axis[std::size_t(j)] = rope.axis(j);
            auto x = randn(std::size_t(S * heads * D), 3);
            std::vector<float> want = x, cs(static_cast<std::size_t>(half)),
                               sn(static_cast<std::size_t>(half));
            for (int i = 0; i < S; ++i) {
                rope.tables(pos[std::size_t(i)], pos[std::size_t(S + i)],
                            pos[std::size_t(2 * S + i)], cs.data(), sn.data());
                engine::cpu::apply_rope(want.data() + i * heads * D, heads, half, cs.data(),
                                        sn.data());
            }
            auto xd = dev(x), pd = dev(pos), fd = dev(rope.inv_freq), ad = dev(axis);
            cuda::k::rope(xd.as<float>(), S, heads, half, pd.as<std::int32_t>(), fd.as<float>(),
                          ad.as<std::int32_t>(), nullptr);
            CLOSE(host<float>(xd, x.size()), want, 1e-5f);
        }
    }

    void siluGate() {
        NEED_GPU();
        const int rows = 9, F = 768;
        const auto gu = randn(std::size_t(rows * 2 * F), 4, 3.0f);
        std::vector<float> want(std::size_t(rows * F));
        for (int r = 0; r < rows; ++r)
            for (int j = 0; j < F; ++j)
                want[std::size_t(r * F + j)] = engine::cpu::silu(gu[std::size_t(r * 2 * F + j)]) *
                                               gu[std::size_t(r * 2 * F + F + j)];
        auto gd = dev(gu);
        cuda::DeviceBuffer od(want.size() * 4, "out");
        cuda::k::silu_mul(gd.as<float>(), rows, F, od.as<float>(), nullptr);
        const auto got = host<float>(od, want.size());
        CLOSE(got, want, 1e-5f);
        // Fused with the bf16 conversion: the bits of the unfused pair's.
        cuda::DeviceBuffer bd(want.size() * 2, "out bf16");
        cuda::k::silu_mul_bf16(gd.as<float>(), rows, F, bd.as<std::uint16_t>(), nullptr);
        QCOMPARE(host<std::uint16_t>(bd, want.size()), to_bf16(got));
    }

    // q/k norm and the rotary of q and k in one launch: the bits of rms_norm then rope on each
    // (and without norm weights, of rope alone), for both MRoPE layouts.
    void qkNormRopeFused() {
        NEED_GPU();
        const int D = 128, half = D / 2, S = 3, NH = 4, KH = 2;
        for (bool interleaved : {true, false}) {
            const engine::cpu::Rope rope(
                D, 5e6, interleaved ? std::vector<int>{24, 20, 20} : std::vector<int>{16, 24, 24},
                interleaved);
            std::vector<std::int32_t> pos(3 * S), axis(static_cast<std::size_t>(half));
            for (int i = 0; i < 3 * S; ++i) pos[std::size_t(i)] = 7 + 13 * i;
            for (int j = 0; j < half; ++j) axis[std::size_t(j)] = rope.axis(j);
            auto pd = dev(pos), fd = dev(rope.inv_freq), ad = dev(axis);
            const auto q = randn(std::size_t(S * NH * D), 31),
                       k = randn(std::size_t(S * KH * D), 32), wq = randn(std::size_t(D), 33),
                       wk = randn(std::size_t(D), 34);
            auto wqd = dev(wq), wkd = dev(wk);
            for (bool norm : {true, false}) {
                auto q1 = dev(q), k1 = dev(k), q2 = dev(q), k2 = dev(k);
                cuda::k::qk_norm_rope(
                    q1.as<float>(), k1.as<float>(), S, NH, KH, half,
                    norm ? wqd.as<float>() : nullptr, norm ? wkd.as<float>() : nullptr, 1e-6f,
                    pd.as<std::int32_t>(), fd.as<float>(), ad.as<std::int32_t>(), nullptr);
                if (norm) {
                    cuda::k::rms_norm(q2.as<float>(), wqd.as<float>(), S * NH, D, 1e-6f,
                                      q2.as<float>(), nullptr);
                    cuda::k::rms_norm(k2.as<float>(), wkd.as<float>(), S * KH, D, 1e-6f,
                                      k2.as<float>(), nullptr);
                }
                cuda::k::rope(q2.as<float>(), S, NH, half, pd.as<std::int32_t>(), fd.as<float>(),
                              ad.as<std::int32_t>(), nullptr);
                cuda::k::rope(k2.as<float>(), S, KH, half, pd.as<std::int32_t>(), fd.as<float>(),
                              ad.as<std::int32_t>(), nullptr);
                QCOMPARE(host<float>(q1, q.size()), host<float>(q2, q.size()));
                QCOMPARE(host<float>(k1, k.size()), host<float>(k2, k.size()));
            }
        }
    }

    // A decode step's q/k norm, rotary and KV append in one launch (qk_norm_rope_append_decode)
    // against qk_norm_rope then kv_append_decode: the same bits in q, k and both caches (f32 and
    // bf16), with and without q/k norm weights, at a cache row read on the device; and the
    // host-row form (qk_norm_rope_append) the same bits again.
    void qkNormRopeAppendDecode() {
        NEED_GPU();
        const int D = 128, half = D / 2, NH = 4, KH = 2, cap = 9;
        const std::int64_t past = 6;
        const engine::cpu::Rope rope(D, 5e6, std::vector<int>{24, 20, 20}, true);
        std::vector<std::int32_t> pos = {31, 17, 5}, axis(static_cast<std::size_t>(half));
        for (int j = 0; j < half; ++j) axis[std::size_t(j)] = rope.axis(j);
        auto pd = dev(pos), fd = dev(rope.inv_freq), ad = dev(axis);
        auto past_d = dev(std::vector<std::int64_t>{past});
        const auto q = randn(std::size_t(NH * D), 41), k = randn(std::size_t(KH * D), 42),
                   v = randn(std::size_t(KH * D), 43), noise = randn(std::size_t(KH * cap * D), 44);
        auto wqd = dev(randn(std::size_t(D), 45)), wkd = dev(randn(std::size_t(D), 46)),
             vd = dev(v);
        auto check = [&](const auto& cache_noise, bool norm) {
            using T = typename std::decay_t<decltype(cache_noise)>::value_type;
            auto q1 = dev(q), k1 = dev(k), q2 = dev(q), k2 = dev(k);
            auto kc1 = dev(cache_noise), vc1 = dev(cache_noise), kc2 = dev(cache_noise),
                 vc2 = dev(cache_noise);
            const float* nq = norm ? wqd.as<float>() : nullptr;
            const float* nk = norm ? wkd.as<float>() : nullptr;
            cuda::k::qk_norm_rope_append_decode(
                q1.as<float>(), k1.as<float>(), vd.as<float>(), NH, KH, half, nq, nk, 1e-6f,
                pd.as<std::int32_t>(), fd.as<float>(), ad.as<std::int32_t>(), kc1.template as<T>(),
                vc1.template as<T>(), cap, past_d.as<std::int64_t>(), nullptr);
            cuda::k::qk_norm_rope(q2.as<float>(), k2.as<float>(), 1, NH, KH, half, nq, nk, 1e-6f,
                                  pd.as<std::int32_t>(), fd.as<float>(), ad.as<std::int32_t>(),
                                  nullptr);
            cuda::k::kv_append_decode(k2.as<float>(), vd.as<float>(), KH, D, kc2.template as<T>(),
                                      vc2.template as<T>(), cap, past_d.as<std::int64_t>(),
                                      nullptr);
            QCOMPARE(host<float>(q1, q.size()), host<float>(q2, q.size()));
            QCOMPARE(host<float>(k1, k.size()), host<float>(k2, k.size()));
            const auto kc = host<T>(kc1, cache_noise.size());
            QCOMPARE(kc, host<T>(kc2, cache_noise.size()));
            QCOMPARE(host<T>(vc1, cache_noise.size()), host<T>(vc2, cache_noise.size()));
            QVERIFY(kc != cache_noise);  // the row was written
            // The host-past form (an eager decode step): the same bits again.
            auto q3 = dev(q), k3 = dev(k), kc3 = dev(cache_noise), vc3 = dev(cache_noise);
            cuda::k::qk_norm_rope_append(q3.as<float>(), k3.as<float>(), vd.as<float>(), NH, KH,
                                         half, nq, nk, 1e-6f, pd.as<std::int32_t>(), fd.as<float>(),
                                         ad.as<std::int32_t>(), kc3.template as<T>(),
                                         vc3.template as<T>(), cap, past, nullptr);
            QCOMPARE(host<float>(q3, q.size()), host<float>(q1, q.size()));
            QCOMPARE(host<float>(k3, k.size()), host<float>(k1, k.size()));
            QCOMPARE(host<T>(kc3, cache_noise.size()), kc);
            QCOMPARE(host<T>(vc3, cache_noise.size()), host<T>(vc1, cache_noise.size()));
        };
        for (bool norm : {true, false}) {
            check(noise, norm);
            check(to_bf16(noise), norm);
        }
    }

    // The q/k/v biases in one launch: exactly the three separate adds.
    void qkvBiasFused() {
        NEED_GPU();
        const std::int64_t S = 5, nq = 4 * 64, nkv = 2 * 64;
        const auto q = randn(std::size_t(S * nq), 23), k = randn(std::size_t(S * nkv), 24),
                   v = randn(std::size_t(S * nkv), 25), bq = randn(std::size_t(nq), 26),
                   bk = randn(std::size_t(nkv), 27), bv = randn(std::size_t(nkv), 28);
        auto qd = dev(q), kd = dev(k), vd = dev(v), bqd = dev(bq), bkd = dev(bk), bvd = dev(bv);
        cuda::k::add_bias_qkv(qd.as<float>(), bqd.as<float>(), nq, kd.as<float>(), bkd.as<float>(),
                              vd.as<float>(), bvd.as<float>(), nkv, S, nullptr);
        auto plus = [&](std::vector<float> x, const std::vector<float>& b) {
            for (std::size_t i = 0; i < x.size(); ++i) x[i] += b[i % b.size()];
            return x;
        };
        QCOMPARE(host<float>(qd, q.size()), plus(q, bq));
        QCOMPARE(host<float>(kd, k.size()), plus(k, bk));
        QCOMPARE(host<float>(vd, v.size()), plus(v, bv));
    }

    // 128 experts (the real models), 60 (lanes with fewer experts than others) through the
    // one-warp-per-token kernel; 1030 (past its shared-memory table) through the serial one.
    void routerTopK_data() {
        QTest::addColumn<int>("E");
        for (int e : {128, 60, 1030}) QTest::addRow("%d experts", e) << e;
    }
    void routerTopK() {
        NEED_GPU();
        QFETCH(int, E);
        const int S = 6, K = 8;
        auto logits = randn(std::size_t(S * E), 5);
        logits[7] = logits[9] = 50.0f;  // a tie: the lower index comes first
        for (bool norm : {true, false}) {
            std::vector<int> wi(std::size_t(S * K));
            std::vector<float> ww(std::size_t(S * K));
            for (int i = 0; i < S; ++i)
                engine::cpu::route_top_k(logits.data() + i * E, E, K, norm, wi.data() + i * K,
                                         ww.data() + i * K);
            auto ld = dev(logits);
            cuda::DeviceBuffer id(std::size_t(S * K) * 4, "idx"), wd(std::size_t(S * K) * 4, "wt");
            cuda::k::route_top_k(ld.as<float>(), S, E, K, norm, id.as<std::int32_t>(),
                                 wd.as<float>(), nullptr);
            const auto gi = host<std::int32_t>(id, wi.size());
            QCOMPARE(std::vector<int>(gi.begin(), gi.end()), wi);
            CLOSE(host<float>(wd, ww.size()), ww, 1e-6f);
        }
    }

    void attentionDecodeSplitKAndPrefill() {
        NEED_GPU();
        const std::int64_t NH = 8, KH = 2, D = 128, cap = 1200;
        engine::cpu::ThreadPool pool(2);
        const auto kc = randn(std::size_t(KH * cap * D), 6),
                   vc = randn(std::size_t(KH * cap * D), 7);
        auto kd = dev(kc), vd = dev(vc);
        struct Case {
            std::int64_t q_len, past;
            int splits;
        };
        for (const Case& c :
             {Case{1, 1000, 1}, Case{1, 1000, 8}, Case{1, 3, 32}, Case{37, 5, 1}, Case {
                  300,
                  0,
                  1
              }}) {
            const auto q = randn(std::size_t(c.q_len * NH * D), 8);
            std::vector<float> want(q.size());
            const float scale = 1.0f / std::sqrt(float(D));
            engine::cpu::attention(q.data(), c.q_len, c.past, NH, KH, D, kc.data(), vc.data(), cap,
                                   scale, want.data(), pool);
            auto qd = dev(q);
            cuda::DeviceBuffer od(q.size() * 4, "out"),
                sd(std::size_t(cuda::k::attention_scratch_floats(c.q_len, NH, D, c.splits)) * 4,
                   "scratch");
            cuda::k::attention(qd.as<float>(), c.q_len, c.past, NH, KH, D, kd.as<float>(),
                               vd.as<float>(), cap, scale, c.splits, sd.as<float>(), od.as<float>(),
                               nullptr);
            const auto got = host<float>(od, q.size());
            CLOSE(got, want, 1e-4f);
            // The bf16 output (the o_proj input of a fused decode step): the f32 output's bits.
            cuda::DeviceBuffer bd(q.size() * 2, "out bf16");
            cuda::k::attention(qd.as<float>(), c.q_len, c.past, NH, KH, D, kd.as<float>(),
                               vd.as<float>(), cap, scale, c.splits, sd.as<float>(),
                               bd.as<std::uint16_t>(), nullptr);
            QCOMPARE(host<std::uint16_t>(bd, q.size()), to_bf16(got));
        }
    }

    void embeddingGather() {
        NEED_GPU();
        const int V = 50, H = 96;
        const auto table = to_bf16(randn(std::size_t(V * H), 9));
        const std::vector<std::int32_t> ids = {3, 49, 0, 3};
        std::vector<float> want;
        for (auto id : ids)
            for (int c = 0; c < H; ++c)
                want.push_back(engine::bf16_to_f32(table[std::size_t(id * H + c)]));
        auto td = dev(table), idd = dev(ids);
        cuda::DeviceBuffer od(want.size() * 4, "out");
        cuda::k::embed_gather(td.as<std::uint16_t>(), idd.as<std::int32_t>(), 4, H, od.as<float>(),
                              nullptr);
        QCOMPARE(host<float>(od, want.size()), want);
    }

    void greedyArgmax() {
        NEED_GPU();
        auto x = randn(151936, 10);
        x[70000] = x[120000] = 99.0f;  // tie: the lower id
        auto xd = dev(x);
        cuda::DeviceBuffer od(4, "id");
        cuda::k::argmax(xd.as<float>(), 1, std::int64_t(x.size()), od.as<std::int32_t>(), nullptr);
        QCOMPARE(host<std::int32_t>(od, 1)[0], 70000);
    }

    void topPSampling() {
        NEED_GPU();
        const std::int64_t V = 151936;
        const auto x = randn(std::size_t(V), 13, 3.0f);
        auto xd = dev(x);
        cuda::DeviceBuffer pd(std::size_t(V) * 4, "p"), id(4, "id"), info(8, "info");
        for (auto [t, top_p, u] : {std::tuple{1.0f, 0.9f, 0.1f}, std::tuple{0.7f, 0.5f, 0.63f},
                                   std::tuple{2.0f, 1.0f, 0.999f}, std::tuple {
                                       1.0f,
                                       0.01f,
                                       0.5f
                                   }}) {
            const cuda::TopP want = cuda::sample_top_p_cpu(x.data(), V, t, top_p, u);
            cuda::k::sample_top_p(xd.as<float>(), V, t, top_p, u, pd.as<float>(),
                                  id.as<std::int32_t>(), info.as<float>(), nullptr);
            const auto got_info = host<float>(info, 2);
            QCOMPARE(host<std::int32_t>(id, 1)[0], want.id);
            QCOMPARE(got_info[0], want.threshold);
            QVERIFY(std::fabs(got_info[1] - want.kept_mass) < 1e-5f);
            QVERIFY(want.kept_mass >= top_p - 1e-6f);
        }
    }

    void bf16GemmBothLayouts() {
        NEED_GPU();
        engine::cpu::ThreadPool pool(2);
        cuda::Stream stream;
        cuda::Blas blas(stream.get());
        const std::int64_t M = 5, K = 256, N = 96;
        const auto x = round_bf16(randn(std::size_t(M * K), 11));
        const auto wb = to_bf16(randn(std::size_t(N * K), 12, 0.05f));
        for (auto layout : {engine::cpu::Layout::out_in, engine::cpu::Layout::in_out}) {
            const bool oi = layout == engine::cpu::Layout::out_in;
            engine::cpu::WeightView wv{wb.data(),  engine::DType::BF16, oi ? N : K,
                                       oi ? K : N, oi ? K : N,          layout};
            std::vector<float> want(std::size_t(M * N));
            engine::cpu::linear(x.data(), M, wv, want.data(), pool, engine::cpu::Isa::scalar);
            auto xd = dev(to_bf16(x)), wd = dev(wb);
            cuda::DeviceBuffer yd(want.size() * 4, "y");
            blas.linear(xd.as<std::uint16_t>(), M, K, wd.as<std::uint16_t>(), layout, N, oi ? K : N,
                        yd.as<float>());
            stream.sync("gemm");
            CLOSE(host<float>(yd, want.size()), want, 1e-4f);
            // Accumulating (beta = 1, the fused residual add): y = r + x · W.
            const auto r = randn(want.size(), 13);
            auto rd = dev(r);
            blas.linear(xd.as<std::uint16_t>(), M, K, wd.as<std::uint16_t>(), layout, N, oi ? K : N,
                        rd.as<float>(), true);
            stream.sync("gemm accumulate");
            std::vector<float> sum(want.size());
            for (std::size_t i = 0; i < sum.size(); ++i) sum[i] = r[i] + want[i];
            CLOSE(host<float>(rd, sum.size()), sum, 1e-4f);
        }
    }

    // The decode step's matrix-vector kernels (cuda/gemv.h) against cpu::linear per slot, both
    // layouts: the real shapes' 16-byte loads (K and N multiples of 8) and the element loads
    // (odd sizes), each slot's expert read from the device (slot order unlike expert order, an
    // expert twice), accumulating into y and not.
    void gemvBothLayouts_data() {
        QTest::addColumn<int>("K");
        QTest::addColumn<int>("N");
        QTest::newRow("16-byte loads") << 2048 << 1536;
        QTest::newRow("element loads") << 203 << 97;
        QTest::newRow("one partial tile") << 24 << 40;
    }
    void gemvBothLayouts() {
        NEED_GPU();
        QFETCH(int, K);
        QFETCH(int, N);
        engine::cpu::ThreadPool pool(2);
        cuda::Stream stream;
        const int E = 5, nslot = 4;
        const std::vector<std::int32_t> expert = {3, 0, 3, 1};
        const std::int64_t per = std::int64_t(K) * N;
        const auto x = round_bf16(randn(std::size_t(nslot * K), 21));
        const auto wb = to_bf16(randn(std::size_t(E * per), 22, 0.05f));
        const auto r = randn(std::size_t(nslot * N), 23);
        auto xd = dev(to_bf16(x)), wd = dev(wb), ed = dev(expert);
        for (auto layout : {engine::cpu::Layout::out_in, engine::cpu::Layout::in_out}) {
            const bool oi = layout == engine::cpu::Layout::out_in;
            std::vector<float> want(std::size_t(nslot * N));
            for (int sl = 0; sl < nslot; ++sl) {
                engine::cpu::WeightView wv{wb.data() + expert[std::size_t(sl)] * per,
                                           engine::DType::BF16,
                                           oi ? N : K,
                                           oi ? K : N,
                                           oi ? K : N,
                                           layout};
                engine::cpu::linear(x.data() + sl * K, 1, wv, want.data() + sl * N, pool,
                                    engine::cpu::Isa::scalar);
            }
            for (bool acc : {false, true}) {
                auto yd = dev(r);
                cuda::k::gemv_bf16(xd.as<std::uint16_t>(), K, K, wd.as<std::uint16_t>(), per,
                                   ed.as<std::int32_t>(), oi, N, oi ? K : N, yd.as<float>(), N,
                                   nslot, acc, stream.get());
                stream.sync("gemv");
                std::vector<float> expect = want;
                if (acc)
                    for (std::size_t i = 0; i < expect.size(); ++i) expect[i] += r[i];
                CLOSE(host<float>(yd, expect.size()), expect, 1e-4f);
            }
            // No expert array: slot s reads expert s (a dense layer is one slot).
            auto yd = dev(r);
            cuda::k::gemv_bf16(xd.as<std::uint16_t>(), 0, K, wd.as<std::uint16_t>(), 0, nullptr, oi,
                               N, oi ? K : N, yd.as<float>(), 0, 1, false, stream.get());
            stream.sync("gemv dense");
            engine::cpu::WeightView wv{wb.data(),  engine::DType::BF16, oi ? N : K,
                                       oi ? K : N, oi ? K : N,          layout};
            std::vector<float> dense(static_cast<std::size_t>(N));
            engine::cpu::linear(x.data(), 1, wv, dense.data(), pool, engine::cpu::Isa::scalar);
            CLOSE(host<float>(yd, dense.size()), dense, 1e-4f);
        }
    }

    // The MoE decode step's down GEMV computing SwiGLU's activation as it reads it
    // (gemv_silu_bf16) against silu_mul_bf16 then gemv_bf16: the same bits, slots of experts out
    // of order and repeated, accumulating, 16-byte and element loads (N a multiple of 8 or not);
    // and with the combine into the residual folded in (gemv_silu_combine_bf16).
    void gemvSiluDown_data() {
        QTest::addColumn<int>("N");
        QTest::newRow("16-byte loads") << 2048;
        QTest::newRow("element loads") << 36;
    }
    void gemvSiluDown() {
        NEED_GPU();
        QFETCH(int, N);
        const std::int64_t F = 768, E = 4;
        const int nslot = 8;
        const std::vector<std::int32_t> expert = {3, 0, 3, 1, 2, 2, 0, 1};
        const auto gu = randn(std::size_t(nslot * 2 * F), 51);
        auto gud = dev(gu), wd = dev(to_bf16(randn(std::size_t(E * F * N), 52, 0.05f))),
             ed = dev(expert), act = dev(std::vector<std::uint16_t>(std::size_t(nslot * F)));
        const auto r = randn(std::size_t(nslot * N), 53);
        auto y1 = dev(r), y2 = dev(r);
        cuda::k::gemv_silu_bf16(gud.as<float>(), 2 * F, F, wd.as<std::uint16_t>(), F * N,
                                ed.as<std::int32_t>(), N, N, y1.as<float>(), N, nslot, true,
                                nullptr);
        cuda::k::silu_mul_bf16(gud.as<float>(), nslot, F, act.as<std::uint16_t>(), nullptr);
        cuda::k::gemv_bf16(act.as<std::uint16_t>(), F, F, wd.as<std::uint16_t>(), F * N,
                           ed.as<std::int32_t>(), false, N, N, y2.as<float>(), N, nslot, true,
                           nullptr);
        QCOMPARE(host<float>(y1, r.size()), host<float>(y2, r.size()));
        // Combined into a residual in the same launch (gemv_silu_combine_bf16): moe_combine's
        // bits, twice in a row (the counters must be left at zero for the next launch).
        const std::vector<float> weight = {0.3f, 0.2f, 0.1f, 0.1f, 0.1f, 0.1f, 0.05f, 0.05f};
        auto wtd = dev(weight);
        const auto x0 = randn(std::size_t(N), 54);
        auto x1 = dev(x0), x2 = dev(x0), p1 = dev(r), p2 = dev(r);
        auto done = dev(std::vector<unsigned>(std::size_t(N / cuda::k::kGemvTileCols + 1), 0u));
        for (int round = 0; round < 2; ++round) {
            cuda::k::gemv_silu_combine_bf16(gud.as<float>(), 2 * F, F, wd.as<std::uint16_t>(),
                                            F * N, ed.as<std::int32_t>(), N, N, p1.as<float>(),
                                            nslot, wtd.as<float>(), x1.as<float>(),
                                            done.as<unsigned>(), nullptr);
            cuda::k::gemv_silu_bf16(gud.as<float>(), 2 * F, F, wd.as<std::uint16_t>(), F * N,
                                    ed.as<std::int32_t>(), N, N, p2.as<float>(), N, nslot, false,
                                    nullptr);
            cuda::k::moe_combine(x2.as<float>(), p2.as<float>(), nullptr, wtd.as<float>(), 1, nslot,
                                 N, nullptr);
            QCOMPARE(host<float>(p1, r.size()), host<float>(p2, r.size()));
            QCOMPARE(host<float>(x1, x0.size()), host<float>(x2, x0.size()));
            for (unsigned c : host<unsigned>(done, std::size_t(N / cuda::k::kGemvTileCols + 1)))
                QCOMPARE(c, 0u);
        }
    }

    // The MoE router of a decode step routing in its own last block (gemv_route_bf16) against
    // gemv_bf16 then route_top_k: the same logits, experts and weights at Qwen3-VL-30B-A3B's 128
    // experts (top 8, normalised) and 60 (top 4, not), twice in a row (the counter must be left
    // at zero); more than 1024 experts is an error.
    void gemvRoute() {
        NEED_GPU();
        const std::int64_t K = 2048;
        auto xd = dev(to_bf16(randn(std::size_t(K), 61)));
        auto done = dev(std::vector<unsigned>{0u});
        for (auto [E, top, norm] : {std::tuple{128, 8, true}, std::tuple { 60, 4, false }}) {
            auto wd = dev(to_bf16(randn(std::size_t(E) * std::size_t(K), 62, 0.05f)));
            const std::vector<float> logits(static_cast<std::size_t>(E)),
                weights(static_cast<std::size_t>(top));
            const std::vector<std::int32_t> index(static_cast<std::size_t>(top));
            auto l1 = dev(logits), l2 = dev(logits), w1 = dev(weights), w2 = dev(weights);
            auto i1 = dev(index), i2 = dev(index);
            for (int round = 0; round < 2; ++round) {
                cuda::k::gemv_route_bf16(xd.as<std::uint16_t>(), K, wd.as<std::uint16_t>(), E, K,
                                         l1.as<float>(), top, norm, i1.as<std::int32_t>(),
                                         w1.as<float>(), done.as<unsigned>(), nullptr);
                cuda::k::gemv_bf16(xd.as<std::uint16_t>(), 0, K, wd.as<std::uint16_t>(), 0, nullptr,
                                   true, E, K, l2.as<float>(), 0, 1, false, nullptr);
                cuda::k::route_top_k(l2.as<float>(), 1, E, top, norm, i2.as<std::int32_t>(),
                                     w2.as<float>(), nullptr);
                QCOMPARE(host<float>(l1, std::size_t(E)), host<float>(l2, std::size_t(E)));
                QCOMPARE(host<std::int32_t>(i1, std::size_t(top)),
                         host<std::int32_t>(i2, std::size_t(top)));
                QCOMPARE(host<float>(w1, std::size_t(top)), host<float>(w2, std::size_t(top)));
                QCOMPARE(host<unsigned>(done, 1)[0], 0u);
            }
        }
        QVERIFY_THROWS_EXCEPTION(
            cuda::CudaError,
            cuda::k::gemv_route_bf16(xd.as<std::uint16_t>(), K, nullptr, 1030, K, nullptr, 8, true,
                                     nullptr, nullptr, done.as<unsigned>(), nullptr));
    }

    // The GEMVs that normalise their own input (the norm prologue, gemv.h's GemvNorm) against
    // rms_norm_bf16 then the plain kernels: the same bits for the dense gate/up with SwiGLU
    // (gemv_norm_swiglu_bf16, against + gemv_bf16 + silu_mul_bf16), the stacked q/k/v and the
    // router (whose row left in norm.out is rms_norm_bf16's), at Qwen3-VL-30B-A3B's and
    // UI-TARS-1.5-7B's widths (rows summed by 512 threads, two per GEMV thread) and at 1000 (128
    // threads, element loads); 4616 rows exceed the 512 blocks the norm forms are capped at, so
    // some warps take two. A row over kGemvNormMaxK is an error.
    void gemvNormPrologue() {
        NEED_GPU();
        for (const std::int64_t K : {2048, 3584, 1000}) {
            const std::int64_t F = 2308, N = 2 * F, E = 128, nkv = 64;
            auto xd = dev(randn(std::size_t(K), 71)), gd = dev(randn(std::size_t(K), 72));
            auto wd = dev(to_bf16(randn(std::size_t(N * K), 73, 0.05f)));
            auto hb = dev(std::vector<std::uint16_t>(std::size_t(K), 0));
            auto out = dev(std::vector<std::uint16_t>(std::size_t(K), 0));
            cuda::k::rms_norm_bf16(xd.as<float>(), gd.as<float>(), 1, K, 1e-6f, nullptr,
                                   hb.as<std::uint16_t>(), nullptr);
            const cuda::k::GemvNorm norm{xd.as<float>(), gd.as<float>(), 1e-6f};
            const std::vector<float> zeros(static_cast<std::size_t>(N + 2 * nkv), 0.0f);
            auto y1 = dev(zeros), y2 = dev(zeros);
            const std::vector<std::uint16_t> no_act(static_cast<std::size_t>(F), 0);
            auto a1 = dev(no_act), a2 = dev(no_act);
            cuda::k::gemv_norm_swiglu_bf16(norm, K, wd.as<std::uint16_t>(), F, K,
                                           a1.as<std::uint16_t>(), nullptr);
            cuda::k::gemv_bf16(hb.as<std::uint16_t>(), 0, K, wd.as<std::uint16_t>(), 0, nullptr,
                               true, N, K, y2.as<float>(), 0, 1, false, nullptr);
            cuda::k::silu_mul_bf16(y2.as<float>(), 1, F, a2.as<std::uint16_t>(), nullptr);
            const QString at = QString("K %1").arg(K);
            QVERIFY2(
                host<std::uint16_t>(a1, std::size_t(F)) == host<std::uint16_t>(a2, std::size_t(F)),
                qPrintable(at + ": gemv_norm_swiglu_bf16"));
            const std::uint16_t* w = wd.as<std::uint16_t>();
            auto parts = [&](cuda::DeviceBuffer& y) {
                float* o = y.as<float>();
                const cuda::k::GemvPart q{w, N - 2 * nkv, K, o},
                    k{w + (N - 2 * nkv) * K, nkv, K, o + N},
                    v{w + (N - nkv) * K, nkv, K, o + N + nkv};
                return std::array<cuda::k::GemvPart, 3>{q, k, v};
            };
            cuda::k::gemv_bf16_stacked(norm, K, parts(y1).data(), 3, nullptr);
            cuda::k::gemv_bf16_stacked(hb.as<std::uint16_t>(), K, parts(y2).data(), 3, nullptr);
            QVERIFY2(host<float>(y1, zeros.size()) == host<float>(y2, zeros.size()),
                     qPrintable(at + ": stacked"));
            auto done = dev(std::vector<unsigned>{0u});
            auto i1 = dev(std::vector<std::int32_t>(8)), i2 = dev(std::vector<std::int32_t>(8));
            auto w1 = dev(std::vector<float>(8)), w2 = dev(std::vector<float>(8));
            for (int round = 0; round < 2; ++round) {
                cuda::k::gemv_route_bf16(cuda::k::GemvNorm{xd.as<float>(), gd.as<float>(), 1e-6f,
                                                           out.as<std::uint16_t>()},
                                         K, wd.as<std::uint16_t>(), E, K, y1.as<float>(), 8, true,
                                         i1.as<std::int32_t>(), w1.as<float>(), done.as<unsigned>(),
                                         nullptr);
                cuda::k::gemv_route_bf16(hb.as<std::uint16_t>(), K, wd.as<std::uint16_t>(), E, K,
                                         y2.as<float>(), 8, true, i2.as<std::int32_t>(),
                                         w2.as<float>(), done.as<unsigned>(), nullptr);
                QVERIFY2(host<float>(y1, std::size_t(E)) == host<float>(y2, std::size_t(E)),
                         qPrintable(at + ": router logits"));
                QCOMPARE(host<std::int32_t>(i1, 8), host<std::int32_t>(i2, 8));
                QCOMPARE(host<float>(w1, 8), host<float>(w2, 8));
                QVERIFY2(host<std::uint16_t>(out, std::size_t(K)) ==
                             host<std::uint16_t>(hb, std::size_t(K)),
                         qPrintable(at + ": the router's row is not rms_norm_bf16's"));
                QCOMPARE(host<unsigned>(done, 1)[0], 0u);
            }
        }
        QVERIFY_THROWS_EXCEPTION(
            cuda::CudaError,
            cuda::k::gemv_norm_swiglu_bf16(cuda::k::GemvNorm{nullptr, nullptr, 1e-6f},
                                           cuda::k::kGemvNormMaxK + 8, nullptr, 1,
                                           cuda::k::kGemvNormMaxK + 8, nullptr, nullptr));
    }

    // An MoE layer grouped on the device (moe_grouped.h) at Qwen3-VL-30B-A3B's shapes (hidden
    // 2048, experts of width 768, 128 experts, top 8) over 333 tokens with a skewed routing (the
    // busiest experts span several 64-row tiles; expert 127 is chosen by no pair), in both weight
    // layouts: the grouping is its twin's integers; the products are within f32 summation of a
    // double reference on every 17th row; the SwiGLU epilogue gives the bits of the plain product
    // + silu_mul_bf16.
    void moeGroupedProducts() {
        NEED_GPU();
        const std::int64_t S = 333, H = 2048, F = 768;
        const int E = 128, K = 8;
        const std::int64_t n = S * K;
        std::mt19937 g(91);
        std::vector<std::int32_t> idx(static_cast<std::size_t>(n));
        for (auto& e : idx) {
            const double u = std::uniform_real_distribution<double>(0, 1)(g);
            e = std::int32_t(double(E - 1) * u * u);
        }
        const auto twin = cuda::group_by_expert(idx, K, E, cuda::k::kMoeTileRows);
        auto idx_d = dev(idx);
        auto groups_d = dev(std::vector<std::int32_t>(std::size_t(2 * (E + 1)), -1));
        auto map_d = dev(std::vector<std::int32_t>(std::size_t(2 * n), -1));
        std::int32_t* gd = groups_d.as<std::int32_t>();
        std::int32_t* md = map_d.as<std::int32_t>();
        cuda::k::moe_group(idx_d.as<std::int32_t>(), n, K, E, gd, gd + E + 1, md, md + n, nullptr);
        const auto groups = host<std::int32_t>(groups_d, std::size_t(2 * (E + 1)));
        const auto map = host<std::int32_t>(map_d, std::size_t(2 * n));
        const auto mid = [](const std::vector<std::int32_t>& v, std::size_t from,
                            std::size_t count) {
            return std::vector<std::int32_t>(v.begin() + std::ptrdiff_t(from),
                                             v.begin() + std::ptrdiff_t(from + count));
        };
        QCOMPARE(mid(groups, 0, E + 1), twin.offsets);
        QCOMPARE(mid(groups, E + 1, E + 1), twin.tiles);
        QCOMPARE(mid(map, 0, std::size_t(n)), twin.src);
        QCOMPARE(mid(map, std::size_t(n), std::size_t(n)), twin.row_of);
        const cuda::k::MoeGroups mg{gd, gd + E + 1, E, cuda::k::moe_max_tiles(n, E)};

        const auto x = to_bf16(randn(std::size_t(S * H), 92));
        auto x_d = dev(x);
        // 600 M weights: uniform from a xorshift (randn's normal draws would take seconds), the
        // same values read in both layouts.
        auto uniform_bf16 = [](std::size_t count, std::uint64_t state, float scale) {
            std::vector<std::uint16_t> v(count);
            for (auto& b : v) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                b = engine::f32_to_bf16(scale * (float(state >> 40) / float(1 << 24) - 0.5f));
            }
            return v;
        };
        const auto wgu = uniform_bf16(std::size_t(E) * 2 * F * H, 93, 0.06f);
        const auto wdn = uniform_bf16(std::size_t(E) * F * H, 94, 0.06f);
        auto wgu_d = dev(wgu), wdn_d = dev(wdn);
        for (const bool out_in : {false, true}) {
            const cuda::k::MoeWeights gate_up{wgu_d.as<std::uint16_t>(), 2 * F * H, out_in,
                                              out_in ? H : 2 * F};
            const cuda::k::MoeWeights down{wdn_d.as<std::uint16_t>(), F * H, out_in,
                                           out_in ? F : H};
            auto gu_d = dev(std::vector<float>(std::size_t(n * 2 * F), 0.0f));
            auto act_d = dev(std::vector<std::uint16_t>(std::size_t(n * F), 0));
            auto twin_d = dev(std::vector<std::uint16_t>(std::size_t(n * F), 1));
            auto dn_d = dev(std::vector<float>(std::size_t(n * H), 0.0f));
            cuda::k::moe_gemm_bf16(x_d.as<std::uint16_t>(), md, H, gate_up, 2 * F, mg,
                                   gu_d.as<float>(), nullptr);
            cuda::k::moe_gate_up_swiglu_bf16(x_d.as<std::uint16_t>(), md, H, gate_up, F, mg,
                                             act_d.as<std::uint16_t>(), nullptr);
            cuda::k::silu_mul_bf16(gu_d.as<float>(), n, F, twin_d.as<std::uint16_t>(), nullptr);
            cuda::k::moe_gemm_bf16(act_d.as<std::uint16_t>(), nullptr, F, down, H, mg,
                                   dn_d.as<float>(), nullptr);
            const auto gu = host<float>(gu_d, std::size_t(n * 2 * F));
            const auto act = host<std::uint16_t>(act_d, std::size_t(n * F));
            const auto dn = host<float>(dn_d, std::size_t(n * H));
            const QString layout = out_in ? "out_in" : "in_out";
            QVERIFY2(act == host<std::uint16_t>(twin_d, act.size()),
                     qPrintable(layout + ": SwiGLU epilogue vs product + silu_mul_bf16"));
            // The expert of each grouped row, then every 17th row against double sums.
            std::vector<int> expert_of(static_cast<std::size_t>(n));
            for (int e = 0; e < E; ++e)
                for (std::int32_t r = twin.offsets[std::size_t(e)];
                     r < twin.offsets[std::size_t(e) + 1]; ++r)
                    expert_of[std::size_t(r)] = e;
            auto worst = [](const std::vector<float>& got, const std::vector<double>& ref) {
                double w = 0, mag = 0;
                for (std::size_t i = 0; i < ref.size(); ++i) {
                    w = std::max(w, std::fabs(double(got[i]) - ref[i]));
                    mag = std::max(mag, std::fabs(ref[i]));
                }
                return w / mag;
            };
            for (std::int64_t r = 0; r < n; r += 17) {
                const int e = expert_of[std::size_t(r)];
                const std::uint16_t* a = x.data() + std::int64_t(twin.src[std::size_t(r)]) * H;
                const std::uint16_t* w = wgu.data() + std::int64_t(e) * 2 * F * H;
                std::vector<double> ref(static_cast<std::size_t>(2 * F));
                std::vector<float> got(gu.begin() + r * 2 * F, gu.begin() + (r + 1) * 2 * F);
                for (std::int64_t c = 0; c < 2 * F; ++c)
                    for (std::int64_t i = 0; i < H; ++i)
                        ref[std::size_t(c)] +=
                            double(engine::bf16_to_f32(a[i])) *
                            engine::bf16_to_f32(out_in ? w[c * H + i] : w[i * 2 * F + c]);
                QVERIFY2(worst(got, ref) <= 1e-4,
                         qPrintable(layout +
                                    QString(": gate/up row %1: %2").arg(r).arg(worst(got, ref))));
                const std::uint16_t* ar = act.data() + r * F;
                const std::uint16_t* wd = wdn.data() + std::int64_t(e) * F * H;
                std::vector<double> ref2(static_cast<std::size_t>(H));
                std::vector<float> got2(dn.begin() + r * H, dn.begin() + (r + 1) * H);
                for (std::int64_t c = 0; c < H; ++c)
                    for (std::int64_t i = 0; i < F; ++i)
                        ref2[std::size_t(c)] +=
                            double(engine::bf16_to_f32(ar[i])) *
                            engine::bf16_to_f32(out_in ? wd[c * F + i] : wd[i * H + c]);
                QVERIFY2(worst(got2, ref2) <= 1e-4,
                         qPrintable(layout +
                                    QString(": down row %1: %2").arg(r).arg(worst(got2, ref2))));
            }
        }
    }

    // The MoE grouping's and grouped products' size errors come before any launch: one CudaError
    // naming the count or the size. Needs no GPU (only a CUDA build).
    void moeGroupedRejectsBadSizes() {
        auto message = [](auto&& f) -> std::string {
            try {
                f();
            } catch (const cuda::CudaError& e) {
                return e.what();
            }
            return "";
        };
        const std::string experts = message([] {
            cuda::k::moe_group(nullptr, 0, 1, cuda::k::kMoeMaxExperts + 1, nullptr, nullptr,
                               nullptr, nullptr, nullptr);
        });
        QVERIFY2(experts.find("513 experts") != std::string::npos, experts.c_str());
        const std::string size = message([] {
            const std::int32_t g[4] = {};
            cuda::k::moe_gemm_bf16(nullptr, nullptr, 60, {nullptr, 0, true, 60}, 16, {g, g, 1, 1},
                                   nullptr, nullptr);
        });
        QVERIFY2(size.find("K 60") != std::string::npos, size.c_str());
        QVERIFY(!cuda::k::moe_grouped_supports(64, 20, 64, 8));  // N not a multiple of 8
        QVERIFY(cuda::k::moe_grouped_supports(64, 48, 96, 8));
    }

    // The tiny Qwen3-VL-MoE decoder with its MoE layers grouped on the device (the default)
    // against host grouping (DESKPILOT_CUDA_MOE_GROUPING=host's path) and the CPU decoder: a
    // 40-token prefill; and fused against unfused device grouping, bit for bit.
    void moeGroupingDeviceMatchesHost() {
        NEED_GPU();
        const auto [ck, cpu] = load_tiny("engine/qwen3_vl_moe_tiny/bf16");
        const auto device = cuda::CudaTextModel::upload(*cpu, *ck);
        const auto unfused = cuda::CudaTextModel::upload(*cpu, *ck);
        const auto on_host = cuda::CudaTextModel::upload(*cpu, *ck);
        unfused->set_fused(false);
        on_host->set_moe_device_grouping(false);
        QVERIFY(device->moe_device_grouping());
        std::vector<std::int32_t> ids;
        for (int i = 0; i < 40; ++i) ids.push_back(std::int32_t((i * 53 + 7) % 900));
        const auto pos = engine::Positions::text(0, std::int64_t(ids.size()));
        engine::KvCache kv = cpu->new_cache(64);
        for (auto* m : {device.get(), unfused.get(), on_host.get()}) m->reset(64);
        const auto d = device->forward(ids, pos, true);
        QVERIFY(d == unfused->forward(ids, pos, true));
        CLOSE(d, on_host->forward(ids, pos, true), 1e-2f);
        CLOSE(d, cpu->forward(ids, pos, kv, true), 3e-2f);
    }

    // q, k and v of a decode step in one launch (gemv_bf16_stacked) against cpu::linear per
    // matrix: parts of different heights, 16-byte and element loads, with and without biases;
    // 0 or 4 parts are an error.
    void gemvStacked_data() {
        QTest::addColumn<int>("K");
        QTest::newRow("16-byte loads") << 2048;
        QTest::newRow("element loads") << 203;
    }
    void gemvStacked() {
        NEED_GPU();
        QFETCH(int, K);
        engine::cpu::ThreadPool pool(2);
        cuda::Stream stream;
        const std::int64_t Ns[3] = {264, 40, 40};
        const auto x = round_bf16(randn(std::size_t(K), 31));
        auto xd = dev(to_bf16(x));
        std::vector<std::vector<std::uint16_t>> ws;
        std::vector<cuda::DeviceBuffer> wd, yd;
        cuda::k::GemvPart parts[3];
        for (int p = 0; p < 3; ++p) {
            ws.push_back(to_bf16(randn(std::size_t(Ns[p] * K), 32 + std::uint64_t(p), 0.05f)));
            wd.push_back(dev(ws.back()));
            yd.push_back(dev(std::vector<float>(std::size_t(Ns[p]), NAN)));
            parts[p] = {wd.back().as<std::uint16_t>(), Ns[p], K, yd.back().as<float>()};
        }
        cuda::k::gemv_bf16_stacked(xd.as<std::uint16_t>(), K, parts, 3, stream.get());
        stream.sync("gemv stacked");
        for (int p = 0; p < 3; ++p) {
            engine::cpu::WeightView wv{ws[std::size_t(p)].data(),  engine::DType::BF16, Ns[p], K, K,
                                       engine::cpu::Layout::out_in};
            std::vector<float> want(static_cast<std::size_t>(Ns[p]));
            engine::cpu::linear(x.data(), 1, wv, want.data(), pool, engine::cpu::Isa::scalar);
            CLOSE(host<float>(yd[std::size_t(p)], want.size()), want, 1e-4f);
        }
        // With biases (Qwen2's q/k/v): the product's bits plus the bias, as add_bias_qkv adds it.
        std::vector<std::vector<float>> before, bias;
        std::vector<cuda::DeviceBuffer> bd;
        for (int p = 0; p < 3; ++p) {
            before.push_back(host<float>(yd[std::size_t(p)], std::size_t(Ns[p])));
            bias.push_back(randn(std::size_t(Ns[p]), 35 + std::uint64_t(p)));
            bd.push_back(dev(bias.back()));
            parts[p].bias = bd.back().as<float>();
        }
        cuda::k::gemv_bf16_stacked(xd.as<std::uint16_t>(), K, parts, 3, stream.get());
        stream.sync("gemv stacked with biases");
        for (int p = 0; p < 3; ++p) {
            std::vector<float> want = before[std::size_t(p)];
            for (std::size_t i = 0; i < want.size(); ++i) want[i] += bias[std::size_t(p)][i];
            QCOMPARE(host<float>(yd[std::size_t(p)], want.size()), want);
        }
        for (int count : {0, 4})
            QVERIFY_THROWS_EXCEPTION(
                cuda::CudaError,
                cuda::k::gemv_bf16_stacked(xd.as<std::uint16_t>(), K, parts, count, stream.get()));
    }

    void outOfMemoryNamesTheAllocation() {
        NEED_GPU();
        try {
            cuda::DeviceBuffer b(std::size_t(1) << 52, "layers.0.mlp.experts.gate_up_proj");
            QFAIL("a 4 PiB allocation succeeded");
        } catch (const cuda::CudaError& e) {
            const QString m = e.what();
            QVERIFY2(m.contains("out of memory") && m.contains("4503599627370496") &&
                         m.contains("layers.0.mlp.experts.gate_up_proj") && m.contains("free"),
                     qPrintable(m));
        }
    }

    // Qwen3-VL's block norms (1024 patches × 1152), its deepstack mergers' norm after the 2×2
    // shuffle (4·1152 wide), and odd widths; rows offset from zero so the mean matters.
    void visionLayerNorm() {
        NEED_GPU();
        for (auto [rows, d] :
             {std::pair{1024, 1152}, std::pair{256, 4608}, std::pair{7, 37}, std::pair {
                  3,
                  1
              }}) {
            auto x = randn(std::size_t(rows * d), 21, 2.0f);
            for (std::size_t i = 0; i < x.size(); ++i) x[i] += float((i / std::size_t(d)) % 11);
            const auto w = randn(std::size_t(d), 22), b = randn(std::size_t(d), 23);
            std::vector<float> want(x.size());
            vblocks::layer_norm(x.data(), rows, d, w.data(), b.data(), 1e-6, want.data());
            auto xd = dev(x), wd = dev(w), bd = dev(b);
            cuda::DeviceBuffer od(x.size() * 4, "out");
            cuda::k::layer_norm(xd.as<float>(), wd.as<float>(), bd.as<float>(), rows, d, 1e-6f,
                                od.as<float>(), nullptr);
            CLOSE(host<float>(od, x.size()), want, 1e-5f);
            cuda::k::layer_norm(xd.as<float>(), wd.as<float>(), bd.as<float>(), rows, d, 1e-6f,
                                xd.as<float>(), nullptr);  // in place
            CLOSE(host<float>(xd, x.size()), want, 1e-5f);
        }
    }

    // Qwen3-VL's vision MLP intermediate (1024 patches × 4304) and an odd length, both forms.
    void visionGelu() {
        NEED_GPU();
        for (std::int64_t n : {std::int64_t(1024) * 4304, std::int64_t(1001)}) {
            const auto x = randn(std::size_t(n), 24, 3.0f);
            for (bool tanh_form : {true, false}) {
                std::vector<float> want(x.size());
                for (std::size_t i = 0; i < x.size(); ++i)
                    want[i] = tanh_form ? vblocks::gelu_tanh(x[i]) : vblocks::gelu_erf(x[i]);
                auto xd = dev(x);
                cuda::DeviceBuffer od(x.size() * 4, "out");
                cuda::k::gelu(xd.as<float>(), n, tanh_form, od.as<float>(), nullptr);
                CLOSE(host<float>(od, x.size()), want, 1e-5f);
                cuda::k::gelu(xd.as<float>(), n, tanh_form, xd.as<float>(), nullptr);  // in place
                CLOSE(host<float>(xd, x.size()), want, 1e-5f);
            }
        }
    }

    // q and k of every patch rotated, v untouched: Qwen3-VL (1024 patches in raster order, 16
    // heads × 72), a 1932×1092 screenshot in Qwen2.5-VL's window order (head_dim 80; rows and
    // columns up to 137), and an odd grid whose edge windows are cut.
    void visionRope2d() {
        NEED_GPU();
        struct Case {
            int gh, gw, window;
            std::int64_t heads, hd;
        };
        for (const Case& c : {Case{32, 32, 0, 16, 72}, Case{78, 138, 4, 2, 80}, Case {
                                  10,
                                  14,
                                  4,
                                  3,
                                  20
                              }}) {
            const auto order = patch_order(c.gh, c.gw, c.window);
            const std::int64_t S = std::int64_t(order.size()), hid = c.heads * c.hd,
                               half = c.hd / 2;
            const auto inv = vblocks::rope2d_inv_freq(int(c.hd), 10000.0);
            std::vector<float> cs, sn;
            vblocks::rope2d_tables(order, c.gw, 2, inv, cs, sn);
            const auto qkv = randn(std::size_t(S * 3 * hid), 25);
            std::vector<float> want = qkv;
            for (std::int64_t s = 0; s < S; ++s)
                vblocks::rope2d_rotate(&want[std::size_t(s * 3 * hid)], c.heads, c.hd,
                                       &cs[std::size_t(s * half)], &sn[std::size_t(s * half)]);
            auto qd = dev(qkv), pd = dev(vblocks::rope2d_positions(order, c.gw, 2)), fd = dev(inv);
            cuda::k::rope2d(qd.as<float>(), S, c.heads, c.hd, pd.as<std::int32_t>(), fd.as<float>(),
                            nullptr);
            CLOSE(host<float>(qd, qkv.size()), want, 1e-5f);
        }
        QVERIFY_THROWS_EXCEPTION(cuda::CudaError,
                                 cuda::k::rope2d(nullptr, 1, 1, 70, nullptr, nullptr, nullptr));
    }

    // Patches into Qwen2.5-VL's window order (gather) and merged tokens back to raster order
    // (scatter): a 1932×1092 screenshot at real widths, and an odd grid and width.
    void visionWindowPermutation() {
        NEED_GPU();
        struct Case {
            int gh, gw;
            std::int64_t hid, out_w;
        };
        for (const Case& c : {Case{78, 138, 1280, 2048}, Case { 10, 14, 37, 5 }}) {
            const auto win = engine::window_layout(c.gh, c.gw, 2, 4);
            const auto order = engine::window_patch_order(win, 2);
            const std::int64_t S = std::int64_t(order.size()), T = std::int64_t(win.index.size());
            const auto x = randn(std::size_t(S * c.hid), 26);
            std::vector<float> want(x.size());
            vblocks::gather_rows(x.data(), order, c.hid, want.data());
            auto xd = dev(x), od = dev(std::vector<std::int32_t>(order.begin(), order.end()));
            cuda::DeviceBuffer yd(x.size() * 4, "windowed");
            cuda::k::gather_rows(xd.as<float>(), od.as<std::int32_t>(), S, c.hid, yd.as<float>(),
                                 nullptr);
            QVERIFY(host<float>(yd, x.size()) == want);

            const auto merged = randn(std::size_t(T * c.out_w), 27);
            std::vector<float> back(merged.size());
            vblocks::scatter_rows(merged.data(), win.index, c.out_w, back.data());
            auto md = dev(merged),
                 id = dev(std::vector<std::int32_t>(win.index.begin(), win.index.end()));
            cuda::DeviceBuffer rd(merged.size() * 4, "raster");
            cuda::k::scatter_rows(md.as<float>(), id.as<std::int32_t>(), T, c.out_w, rd.as<float>(),
                                  nullptr);
            QVERIFY(host<float>(rd, merged.size()) == back);
        }
    }
    // Flash prefill attention against cpu::attention: past 0 and > 0, q_len 1, 7, 37, 300, 2048,
    // GQA 4:1 and 1:1, every supported head_dim. The caches hold 5 more rows of noise than the
    // context, so reading past it (or past the causal mask) changes the result. Tolerance: 2e-5
    // of the largest |output| (f32 both sides; only the summation order differs).
    void flashAttentionCausal() {
        NEED_GPU();
        struct Case {
            std::int64_t q_len, past, NH, KH, D;
        };
        engine::cpu::ThreadPool pool(4);
        int seed = 40;
        for (const Case& c :
             {Case{1, 0, 8, 2, 128}, Case{1, 1000, 8, 2, 128}, Case{7, 0, 4, 4, 64},
              Case{7, 93, 16, 4, 64}, Case{300, 0, 8, 2, 128}, Case{300, 129, 4, 4, 128},
              Case{2048, 0, 16, 4, 128}, Case{2048, 0, 8, 8, 64}, Case{37, 11, 4, 2, 32},
              Case{33, 5, 2, 1, 72}, Case {
                  45,
                  3,
                  4,
                  1,
                  80
              }}) {
            const std::int64_t cap = c.past + c.q_len + 5;
            const auto q = randn(std::size_t(c.q_len * c.NH * c.D), std::uint64_t(++seed)),
                       kc = randn(std::size_t(c.KH * cap * c.D), std::uint64_t(++seed)),
                       vc = randn(std::size_t(c.KH * cap * c.D), std::uint64_t(++seed));
            const float scale = 1.0f / std::sqrt(float(c.D));
            std::vector<float> want(q.size());
            engine::cpu::attention(q.data(), c.q_len, c.past, c.NH, c.KH, c.D, kc.data(), vc.data(),
                                   cap, scale, want.data(), pool);
            auto qd = dev(q), kd = dev(kc), vd = dev(vc);
            for (const FlashKernelCase& fk : kFlashKernels) {
                const FlashKernelScope scope(fk.kernel);
                cuda::DeviceBuffer od(q.size() * 4, "out");
                cuda::k::flash_attention_causal(qd.as<float>(), c.q_len, c.past, c.NH, c.KH, c.D,
                                                kd.as<float>(), vd.as<float>(), cap, scale,
                                                od.as<float>(), nullptr);
                const float e = err_vs_peak(host<float>(od, q.size()), want);
                const float tol =
                    fk.kernel == cuda::k::FlashKernel::mma ? kFlashMmaTolerance : 2e-5f;
                QVERIFY2(e <= tol, qPrintable(QString("%1: q_len %2 past %3 heads %4/%5 d %6: "
                                                      "error %7")
                                                  .arg(fk.name)
                                                  .arg(c.q_len)
                                                  .arg(c.past)
                                                  .arg(c.NH)
                                                  .arg(c.KH)
                                                  .arg(c.D)
                                                  .arg(e)));
            }
        }
    }

    // Segment attention on qkv rows against segment_attention_reference with identity rotary
    // tables (cos 1, sin 0 leave q and k bit-exact): one full segment (Qwen3-VL: 1024 patches ×
    // 16 heads × 72), Qwen2.5-VL windows of an odd grid (head_dim 80), and hand-made segments of
    // lengths 64, 37, 1, 0, 64 and 7 that stop 3 rows short of S (those rows must stay untouched).
    // Tolerance 2e-5 of the largest |output|. The full segment is also run through k::rope2d
    // first against the reference with its real tables (1e-4: the two rotaries differ in the
    // last bits).
    void flashAttentionSegments() {
        NEED_GPU();
        engine::cpu::ThreadPool pool(4);
        const auto win = engine::window_layout(10, 14, 2, 4);
        struct Case {
            std::int64_t S, heads, hd;
            std::vector<std::int64_t> seg;
        };
        const std::vector<Case> cases = {
            {1024,
             16,
             72,
             { 0,
               1024 }},
            {140, 2, 80, win.cu_seqlens},
            {176,
             3,
             64,
             { 0,
               64,
               101,
               102,
               102,
               166,
               173 }},
        };
        int seed = 60;
        for (const Case& c : cases) {
            QCOMPARE(c.seg.back() <= c.S, true);
            const std::int64_t hid = c.heads * c.hd;
            const auto qkv = randn(std::size_t(c.S * 3 * hid), std::uint64_t(++seed));
            const std::vector<float> ones(std::size_t(c.S * c.hd / 2), 1.0f),
                zeros(ones.size(), 0.0f);
            std::vector<float> want(std::size_t(c.S * hid), 7.0f), in = qkv;
            vblocks::segment_attention_reference(in.data(), c.S, c.heads, c.hd, ones, zeros, c.seg,
                                                 want.data(), pool);
            QVERIFY(in == qkv);  // the identity rotary really is one
            auto qd = dev(qkv), sd = dev(std::vector<std::int32_t>(c.seg.begin(), c.seg.end()));
            for (const FlashKernelCase& fk : kFlashKernels) {
                const FlashKernelScope scope(fk.kernel);
                auto od = dev(std::vector<float>(want.size(), 7.0f));
                cuda::k::flash_attention_segments(
                    qd.as<float>(), c.S, c.heads, c.hd, sd.as<std::int32_t>(),
                    std::int64_t(c.seg.size()) - 1, od.as<float>(), nullptr);
                const auto got = host<float>(od, want.size());
                const float e = err_vs_peak(got, want);
                const float tol =
                    fk.kernel == cuda::k::FlashKernel::mma ? kFlashMmaTolerance : 2e-5f;
                QVERIFY2(e <= tol, qPrintable(QString("%1: S %2 heads %3 hd %4: error %5")
                                                  .arg(fk.name)
                                                  .arg(c.S)
                                                  .arg(c.heads)
                                                  .arg(c.hd)
                                                  .arg(e)));
                for (std::int64_t r = c.seg.back(); r < c.S; ++r)
                    for (std::int64_t j = 0; j < hid; ++j)
                        QCOMPARE(got[std::size_t(r * hid + j)], 7.0f);
            }
        }
        // The full chain of a tower: k::rope2d, then the flash kernel (Qwen3-VL, 32 × 32 patches).
        const auto order = patch_order(32, 32, 0);
        const std::int64_t S = 1024, heads = 16, hd = 72, hid = heads * hd;
        const auto inv = vblocks::rope2d_inv_freq(int(hd), 10000.0);
        std::vector<float> cs, sn;
        vblocks::rope2d_tables(order, 32, 2, inv, cs, sn);
        auto qkv = randn(std::size_t(S * 3 * hid), 70);
        auto qd = dev(qkv), pd = dev(vblocks::rope2d_positions(order, 32, 2)), fd = dev(inv);
        const std::vector<std::int64_t> whole = {0, S};
        std::vector<float> want(std::size_t(S * hid));
        vblocks::segment_attention_reference(qkv.data(), S, heads, hd, cs, sn, whole, want.data(),
                                             pool);
        cuda::k::rope2d(qd.as<float>(), S, heads, hd, pd.as<std::int32_t>(), fd.as<float>(),
                        nullptr);
        auto sd = dev(std::vector<std::int32_t>{0, std::int32_t(S)});
        for (const FlashKernelCase& fk : kFlashKernels) {
            const FlashKernelScope scope(fk.kernel);
            cuda::DeviceBuffer od(want.size() * 4, "out");
            cuda::k::flash_attention_segments(qd.as<float>(), S, heads, hd, sd.as<std::int32_t>(),
                                              1, od.as<float>(), nullptr);
            const float e = err_vs_peak(host<float>(od, want.size()), want);
            const float tol = fk.kernel == cuda::k::FlashKernel::mma ? kFlashMmaTolerance : 1e-4f;
            QVERIFY2(e <= tol,
                     qPrintable(QString("%1: rope2d + flash: error %2").arg(fk.name).arg(e)));
        }
    }

    // Shapes the kernels do not take are refused before any launch with an error naming the
    // value (runs without a GPU: nothing reaches the device).
    // A bf16 KV cache: kv_append stores engine::f32_to_bf16 of each K/V value (bit for bit), and
    // split-K decode, split-K prefill and flash prefill over it equal cpu::attention on the
    // bf16-rounded K/V (the CPU twin) within the f32 tolerances of the f32-cache tests.
    void attentionBf16KvCache() {
        NEED_GPU();
        engine::cpu::ThreadPool pool(2);
        struct Case {
            std::int64_t q_len, past, NH, KH, D;
            int splits;  // 0: flash
        };
        int seed = 90;
        for (const Case& c :
             {Case{1, 1000, 8, 2, 128, 8}, Case{1, 3, 4, 4, 64, 1}, Case{37, 5, 8, 2, 128, 1},
              Case{300, 129, 8, 2, 128, 0}, Case{33, 0, 4, 1, 64, 0}, Case {
                  7,
                  20,
                  4,
                  2,
                  32,
                  0
              }}) {
            const std::int64_t n = c.past + c.q_len, cap = n + 5;
            // K/V rows as the decoder produces them ([tokens, kv_heads, d]), appended in two
            // pieces (the past, then this pass) into a cache of noise.
            const auto rows_k = randn(std::size_t(n * c.KH * c.D), std::uint64_t(++seed)),
                       rows_v = randn(std::size_t(n * c.KH * c.D), std::uint64_t(++seed)),
                       q = randn(std::size_t(c.q_len * c.NH * c.D), std::uint64_t(++seed));
            std::vector<std::uint16_t> noise(std::size_t(c.KH * cap * c.D), 0x7f7f);
            auto kd = dev(noise), vd = dev(noise), rk = dev(rows_k), rv = dev(rows_v);
            const std::int64_t row = c.KH * c.D;
            cuda::k::kv_append(rk.as<float>(), rv.as<float>(), c.past, c.KH, c.D,
                               kd.as<std::uint16_t>(), vd.as<std::uint16_t>(), cap, 0, nullptr);
            cuda::k::kv_append(rk.as<float>() + c.past * row, rv.as<float>() + c.past * row,
                               c.q_len, c.KH, c.D, kd.as<std::uint16_t>(), vd.as<std::uint16_t>(),
                               cap, c.past, nullptr);
            // The twin's caches [kv_heads, cap, d]: the rows rounded to bf16; past n, noise.
            std::vector<float> kc(noise.size(), engine::bf16_to_f32(0x7f7f)), vc = kc;
            for (std::int64_t t = 0; t < n; ++t)
                for (std::int64_t g = 0; g < c.KH; ++g)
                    for (std::int64_t d = 0; d < c.D; ++d) {
                        const std::size_t dst = std::size_t((g * cap + t) * c.D + d),
                                          src = std::size_t(t * row + g * c.D + d);
                        kc[dst] = engine::bf16_to_f32(engine::f32_to_bf16(rows_k[src]));
                        vc[dst] = engine::bf16_to_f32(engine::f32_to_bf16(rows_v[src]));
                    }
            const auto kbits = host<std::uint16_t>(kd, noise.size());
            for (std::size_t i = 0; i < kbits.size(); ++i)
                if (engine::bf16_to_f32(kbits[i]) != kc[i])
                    QFAIL(qPrintable(QString("bf16 K cache element %1 differs").arg(i)));
            const float scale = 1.0f / std::sqrt(float(c.D));
            std::vector<float> want(q.size());
            engine::cpu::attention(q.data(), c.q_len, c.past, c.NH, c.KH, c.D, kc.data(), vc.data(),
                                   cap, scale, want.data(), pool);
            auto qd = dev(q);
            cuda::DeviceBuffer od(q.size() * 4, "out");
            if (c.splits == 0) {
                for (const FlashKernelCase& fk : kFlashKernels) {
                    const FlashKernelScope scope(fk.kernel);
                    cuda::k::flash_attention_causal(
                        qd.as<float>(), c.q_len, c.past, c.NH, c.KH, c.D, kd.as<std::uint16_t>(),
                        vd.as<std::uint16_t>(), cap, scale, od.as<float>(), nullptr);
                    const float e = err_vs_peak(host<float>(od, q.size()), want);
                    const float tol =
                        fk.kernel == cuda::k::FlashKernel::mma ? kFlashMmaTolerance : 2e-5f;
                    QVERIFY2(e <= tol, qPrintable(QString("%1 flash, q_len %2: error %3")
                                                      .arg(fk.name)
                                                      .arg(c.q_len)
                                                      .arg(e)));
                }
            } else {
                cuda::DeviceBuffer sd(
                    std::size_t(cuda::k::attention_scratch_floats(c.q_len, c.NH, c.D, c.splits)) *
                        4,
                    "scratch");
                cuda::k::attention(qd.as<float>(), c.q_len, c.past, c.NH, c.KH, c.D,
                                   kd.as<std::uint16_t>(), vd.as<std::uint16_t>(), cap, scale,
                                   c.splits, sd.as<float>(), od.as<float>(), nullptr);
                CLOSE(host<float>(od, q.size()), want, 1e-4f);
            }
        }
    }

    // The decode step's kernels with the KV length on the device (what a replayed step graph
    // runs): kv_append_decode writes the row a host-past kv_append writes, and attention_decode
    // (a fixed grid of kMaxSplits, or fewer) equals cpu::attention, its twin, and the host-past
    // kernel's bits with decode_splits(past) splits, f32 and bf16 outputs, over f32 and bf16
    // caches: past 0, either side of split boundaries (63/64, 127/128, 1983/1984: the last
    // growth to 32), 3000, and a grid clamped below decode_splits. The scratch first holds a
    // longer step's partials in every split: the empty splits must hide them.
    void attentionDecodeDevicePast() {
        NEED_GPU();
        engine::cpu::ThreadPool pool(2);
        const std::int64_t NH = 8, KH = 2, D = 128, row = KH * D;
        auto run = [&](auto zero, std::int64_t past, int grid) {
            using T = decltype(zero);
            constexpr bool bf16 = std::is_same_v<T, std::uint16_t>;
            const std::int64_t n = past + 1, cap = n + 5;
            const auto rows_k = randn(std::size_t(n * row), std::uint64_t(200 + past)),
                       rows_v = randn(std::size_t(n * row), std::uint64_t(300 + past)),
                       q = randn(std::size_t(NH * D), std::uint64_t(400 + past));
            std::vector<T> noise(std::size_t(KH * cap * D), T(0x7f7f));
            // Typed: buffers made from the T-dependent `noise` would need `.template as<T>()`.
            cuda::DeviceBuffer kh = dev(noise), vh = dev(noise), kd = dev(noise), vd = dev(noise),
                               rk = dev(rows_k), rv = dev(rows_v),
                               pd = dev(std::vector<std::int64_t>{past});
            // The past rows, by the host-past kernel, into both caches.
            cuda::k::kv_append(rk.as<float>(), rv.as<float>(), past, KH, D, kh.as<T>(), vh.as<T>(),
                               cap, 0, nullptr);
            cuda::k::kv_append(rk.as<float>(), rv.as<float>(), past, KH, D, kd.as<T>(), vd.as<T>(),
                               cap, 0, nullptr);
            cuda::k::kv_append(rk.as<float>() + past * row, rv.as<float>() + past * row, 1, KH, D,
                               kh.as<T>(), vh.as<T>(), cap, past, nullptr);
            cuda::k::kv_append_decode(rk.as<float>() + past * row, rv.as<float>() + past * row, KH,
                                      D, kd.as<T>(), vd.as<T>(), cap, pd.as<const std::int64_t>(),
                                      nullptr);
            const auto kcache = host<T>(kd, noise.size()), vcache = host<T>(vd, noise.size());
            QVERIFY(kcache == host<T>(kh, noise.size()));
            QVERIFY(vcache == host<T>(vh, noise.size()));
            // The twin's caches as f32 (bf16 widened).
            std::vector<float> kc(noise.size()), vc(noise.size());
            for (std::size_t i = 0; i < kc.size(); ++i) {
                if constexpr (bf16) {
                    kc[i] = engine::bf16_to_f32(kcache[i]);
                    vc[i] = engine::bf16_to_f32(vcache[i]);
                } else {
                    kc[i] = kcache[i];
                    vc[i] = vcache[i];
                }
            }
            const float scale = 1.0f / std::sqrt(float(D));
            std::vector<float> want(q.size());
            engine::cpu::attention(q.data(), 1, past, NH, KH, D, kc.data(), vc.data(), cap, scale,
                                   want.data(), pool);
            const int used = std::min(cuda::k::decode_splits(past), grid);
            cuda::DeviceBuffer qd = dev(q);
            cuda::DeviceBuffer eo(q.size() * 4, "eager out"), od(q.size() * 4, "out"),
                bo(q.size() * 2, "out bf16"),
                es(std::size_t(cuda::k::attention_scratch_floats(1, NH, D, used)) * 4,
                   "eager scratch");
            cuda::k::attention(qd.as<float>(), 1, past, NH, KH, D, kh.as<T>(), vh.as<T>(), cap,
                               scale, used, es.as<float>(), eo.as<float>(), nullptr);
            std::vector<float> stale(std::size_t(cuda::k::attention_scratch_floats(1, NH, D, grid)),
                                     0.5f);
            for (std::size_t i = 0; i < stale.size(); i += std::size_t(D + 2)) stale[i + 1] = 3.0f;
            cuda::DeviceBuffer sd = dev(stale);
            cuda::k::attention_decode(qd.as<float>(), pd.as<const std::int64_t>(), NH, KH, D,
                                      kd.as<T>(), vd.as<T>(), cap, scale, grid, sd.as<float>(),
                                      od.as<float>(), nullptr);
            cuda::k::attention_decode(qd.as<float>(), pd.as<const std::int64_t>(), NH, KH, D,
                                      kd.as<T>(), vd.as<T>(), cap, scale, grid, sd.as<float>(),
                                      bo.as<std::uint16_t>(), nullptr);
            const auto got = host<float>(od, q.size());
            const QString at =
                QString("%1 KV, past %2, grid %3").arg(bf16 ? "bf16" : "f32").arg(past).arg(grid);
            const float e = rel_err(got, want);
            QVERIFY2(e <= 1e-4f, qPrintable(at + QString(": error %1 vs the twin").arg(e)));
            QVERIFY2(got == host<float>(eo, q.size()),
                     qPrintable(at + ": not the host-past kernel's bits"));
            QVERIFY2(host<std::uint16_t>(bo, q.size()) == to_bf16(got),
                     qPrintable(at + ": bf16 output not the f32 output's bits"));
            // Merged by each head's last split block in the same launch (head_done, the fused
            // decode step's form): the same bits, f32 and bf16 outputs, eager and device past,
            // each twice (the counters must be left at zero).
            auto done = dev(std::vector<unsigned>(std::size_t(NH), 0u));
            cuda::DeviceBuffer mo(q.size() * 4, "merged out"), mb(q.size() * 2, "merged bf16");
            for (int round = 0; round < 2; ++round) {
                cuda::k::attention(qd.as<float>(), 1, past, NH, KH, D, kh.as<T>(), vh.as<T>(), cap,
                                   scale, used, es.as<float>(), mo.as<float>(), nullptr,
                                   done.as<unsigned>());
                QVERIFY2(host<float>(mo, q.size()) == got,
                         qPrintable(at + ": eager, merged in its launch, not the merge's bits"));
                cuda::k::attention_decode(qd.as<float>(), pd.as<const std::int64_t>(), NH, KH, D,
                                          kd.as<T>(), vd.as<T>(), cap, scale, grid, sd.as<float>(),
                                          mo.as<float>(), nullptr, done.as<unsigned>());
                cuda::k::attention_decode(qd.as<float>(), pd.as<const std::int64_t>(), NH, KH, D,
                                          kd.as<T>(), vd.as<T>(), cap, scale, grid, sd.as<float>(),
                                          mb.as<std::uint16_t>(), nullptr, done.as<unsigned>());
                QVERIFY2(host<float>(mo, q.size()) == got,
                         qPrintable(at + ": merged in its launch, not the merge's bits"));
                QVERIFY2(host<std::uint16_t>(mb, q.size()) == to_bf16(got),
                         qPrintable(at + ": merged in its launch, bf16, not the merge's bits"));
                for (unsigned c : host<unsigned>(done, std::size_t(NH))) QCOMPARE(c, 0u);
            }
        };
        for (auto [past, grid] : {std::pair<std::int64_t, int>{0, cuda::k::kMaxSplits},
                                  {63, cuda::k::kMaxSplits},
                                  {64, cuda::k::kMaxSplits},
                                  {127, cuda::k::kMaxSplits},
                                  {128, cuda::k::kMaxSplits},
                                  {1983, cuda::k::kMaxSplits},
                                  {1984, cuda::k::kMaxSplits},
                                  {3000, cuda::k::kMaxSplits},
                                  { 1000,
                                    4 }}) {
            run(float(0), past, grid);
            if (QTest::currentTestFailed()) return;
            run(std::uint16_t(0), past, grid);
            if (QTest::currentTestFailed()) return;
        }
    }

    void flashAttentionRejectsBadShapes() {
        auto fails = [](auto&& call, const char* needle) {
            try {
                call();
            } catch (const cuda::CudaError& e) {
                return QString(e.what()).contains(needle);
            }
            return false;
        };
        float* x = nullptr;
        QVERIFY(fails([&] { cuda::k::flash_attention_causal(x, 4, 0, 4, 2, 96, x, x, 8, 1, x, x); },
                      "head_dim 96 is not supported"));
        QVERIFY(fails([&] { cuda::k::flash_attention_causal(x, 4, 0, 6, 4, 64, x, x, 8, 1, x, x); },
                      "heads 6 is not a multiple of kv_heads 4"));
        QVERIFY(fails([&] { cuda::k::flash_attention_causal(x, 4, 5, 4, 2, 64, x, x, 8, 1, x, x); },
                      "past 5 + q_len 4 does not fit the cache's 8 rows"));
        QVERIFY(fails([&] { cuda::k::flash_attention_segments(x, 16, 2, 70, nullptr, 1, x, x); },
                      "head_dim 70 is not supported"));
        QVERIFY(fails([&] { cuda::k::flash_attention_segments(x, 16, 2, 72, nullptr, 1, x, x); },
                      "no boundary array"));
        QVERIFY(!cuda::k::flash_attention_supports(256) && cuda::k::flash_attention_supports(72));
    }

    // DESKPILOT_CUDA_FLASH=mma sends the flash attention calls to the tensor-core kernel (f32 by
    // default); a bad value is one clear error naming the variable and the value, and
    // set_flash_kernel overrides the environment for the process. Needs no GPU.
    // DESKPILOT_CUDA_PDL: off when unset or 0, on with 1, another value one CudaError naming the
    // variable and the value; set_pdl overrides it for the process. Needs no GPU.
    void pdlFromTheEnvironment() {
        qunsetenv("DESKPILOT_CUDA_PDL");
        QVERIFY(!cuda::k::pdl_from_env());
        qputenv("DESKPILOT_CUDA_PDL", "1");
        QVERIFY(cuda::k::pdl_from_env());
        qputenv("DESKPILOT_CUDA_PDL", "0");
        QVERIFY(!cuda::k::pdl_from_env());
        QVERIFY(rejectsEnv("DESKPILOT_CUDA_PDL", "on", [] { cuda::k::pdl_from_env(); }));
        const bool before = cuda::k::pdl();
        cuda::k::set_pdl(!before);
        QCOMPARE(cuda::k::pdl(), !before);
        cuda::k::set_pdl(before);
        QCOMPARE(cuda::k::pdl(), before);
    }

    void flashKernelFromTheEnvironment() {
        using cuda::k::FlashKernel;
        qunsetenv("DESKPILOT_CUDA_FLASH");
        QVERIFY(cuda::k::flash_kernel_from_env() == FlashKernel::f32);
        qputenv("DESKPILOT_CUDA_FLASH", "mma");
        QVERIFY(cuda::k::flash_kernel_from_env() == FlashKernel::mma);
        qputenv("DESKPILOT_CUDA_FLASH", "f32");
        QVERIFY(cuda::k::flash_kernel_from_env() == FlashKernel::f32);
        QVERIFY(
            rejectsEnv("DESKPILOT_CUDA_FLASH", "wmma", [] { cuda::k::flash_kernel_from_env(); }));
        qunsetenv("DESKPILOT_CUDA_FLASH");
        {
            const FlashKernelScope scope(FlashKernel::mma);
            QVERIFY(cuda::k::flash_kernel() == FlashKernel::mma);
        }
        const FlashKernelScope scope(FlashKernel::f32);
        QVERIFY(cuda::k::flash_kernel() == FlashKernel::f32);
    }
#else
    // Same slots in a build without CUDA, so moc sees one class either way.
    void rmsNormAndQkNorm() {
        QSKIP("built without CUDA");
    }
    void qkvBiasFused() {
        QSKIP("built without CUDA");
    }
    void qkNormRopeFused() {
        QSKIP("built without CUDA");
    }
    void topPSampling() {
        QSKIP("built without CUDA");
    }
    void mropeBothLayouts() {
        QSKIP("built without CUDA");
    }
    void siluGate() {
        QSKIP("built without CUDA");
    }
    void routerTopK() {
        QSKIP("built without CUDA");
    }
    void attentionDecodeSplitKAndPrefill() {
        QSKIP("built without CUDA");
    }
    void embeddingGather() {
        QSKIP("built without CUDA");
    }
    void greedyArgmax() {
        QSKIP("built without CUDA");
    }
    void bf16GemmBothLayouts() {
        QSKIP("built without CUDA");
    }
    void gemvBothLayouts() {
        QSKIP("built without CUDA");
    }
    void gemvStacked() {
        QSKIP("built without CUDA");
    }
    void outOfMemoryNamesTheAllocation() {
        QSKIP("built without CUDA");
    }
    void visionLayerNorm() {
        QSKIP("built without CUDA");
    }
    void visionGelu() {
        QSKIP("built without CUDA");
    }
    void visionRope2d() {
        QSKIP("built without CUDA");
    }
    void visionWindowPermutation() {
        QSKIP("built without CUDA");
    }
    void flashAttentionCausal() {
        QSKIP("built without CUDA");
    }
    void flashAttentionSegments() {
        QSKIP("built without CUDA");
    }
    void attentionBf16KvCache() {
        QSKIP("built without CUDA");
    }
    void attentionDecodeDevicePast() {
        QSKIP("built without CUDA");
    }
    void flashAttentionRejectsBadShapes() {
        QSKIP("built without CUDA");
    }
    void flashKernelFromTheEnvironment() {
        QSKIP("built without CUDA");
    }
    void pdlFromTheEnvironment() {
        QSKIP("built without CUDA");
    }
    void qkNormRopeAppendDecode() {
        QSKIP("built without CUDA");
    }
    void gemvSiluDown() {
        QSKIP("built without CUDA");
    }
    void gemvRoute() {
        QSKIP("built without CUDA");
    }
    void gemvNormPrologue() {
        QSKIP("built without CUDA");
    }
    void moeGroupedProducts() {
        QSKIP("built without CUDA");
    }
    void moeGroupingDeviceMatchesHost() {
        QSKIP("built without CUDA");
    }
    void moeGroupedRejectsBadSizes() {
        QSKIP("built without CUDA");
    }
#endif

    // The vision twins' inputs agree (runs everywhere): the positions the CUDA rotary reads give
    // the very tables the CPU path uses, and scatter_rows undoes gather_rows by the same order.
    void visionTwinInputsAgree() {
        for (int window : {0, 4}) {
            const int gh = 10, gw = 14;
            const auto order = patch_order(gh, gw, window);
            const std::size_t S = order.size();
            const auto inv = vblocks::rope2d_inv_freq(20, 10000.0);
            const std::size_t quarter = inv.size(), half = 2 * quarter;
            std::vector<float> cs, sn;
            vblocks::rope2d_tables(order, gw, 2, inv, cs, sn);
            const auto pos = vblocks::rope2d_positions(order, gw, 2);
            QCOMPARE(pos.size(), 2 * S);
            for (std::size_t s = 0; s < S; ++s)
                for (std::size_t j = 0; j < half; ++j) {
                    const int axis = j < quarter ? 0 : 1;
                    const float a = float(pos[axis * S + s]) * inv[j - axis * quarter];
                    QCOMPARE(cs[s * half + j], std::cos(a));
                    QCOMPARE(sn[s * half + j], std::sin(a));
                }
            if (window > 0) QVERIFY(order != patch_order(gh, gw, 0));  // a real permutation
            const std::int64_t width = 3;
            const auto x = randn(S * std::size_t(width), 28);
            std::vector<float> permuted(x.size()), back(x.size());
            vblocks::gather_rows(x.data(), order, width, permuted.data());
            vblocks::scatter_rows(permuted.data(), order, width, back.data());
            QVERIFY(back == x);
        }
    }

    // The whole decoder: logits of every prompt position, then decode steps from the cache,
    // against the CPU decoder on the same bf16 weights.
    // The twin itself (runs everywhere): the nucleus is the smallest top set reaching top_p, and
    // a draw walks the kept tokens in id order.
    void topPTwin() {
        const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f),
                                           std::log(0.05f)};
        cuda::TopP r = cuda::sample_top_p_cpu(logits.data(), 4, 1.0f, 0.75f, 0.0f);
        QVERIFY(std::fabs(r.kept_mass - 0.8f) < 1e-4f);  // {0.5, 0.3}
        QCOMPARE(r.id, 0);
        r = cuda::sample_top_p_cpu(logits.data(), 4, 1.0f, 0.75f, 0.7f);  // 0.56 of 0.8: token 1
        QCOMPARE(r.id, 1);
        r = cuda::sample_top_p_cpu(logits.data(), 4, 1.0f, 1.0f, 0.99f);
        QCOMPARE(r.id, 3);
        r = cuda::sample_top_p_cpu(logits.data(), 4, 1.0f, 0.1f, 0.99f);  // only the top token
        QCOMPARE(r.id, 0);
    }

    // DESKPILOT_CUDA_KV picks the KV cache type (bf16 by default); a bad value is one clear
    // error naming the variable and the value. Needs no GPU.
    void kvCacheTypeFromTheEnvironment() {
        qunsetenv("DESKPILOT_CUDA_KV");
        QVERIFY(cuda::kv_dtype_from_env() == cuda::KvDtype::bf16);
        qputenv("DESKPILOT_CUDA_KV", "f32");
        QVERIFY(cuda::kv_dtype_from_env() == cuda::KvDtype::f32);
        qputenv("DESKPILOT_CUDA_KV", "bf16");
        QVERIFY(cuda::kv_dtype_from_env() == cuda::KvDtype::bf16);
        QVERIFY(rejectsEnv("DESKPILOT_CUDA_KV", "fp8", [] { cuda::kv_dtype_from_env(); }));
    }

    // DESKPILOT_CUDA_FUSED=0 runs the unfused kernels (fused by default); a bad value is one
    // clear error naming the variable and the value. Needs no GPU.
    void fusedFromTheEnvironment() {
        qunsetenv("DESKPILOT_CUDA_FUSED");
        QVERIFY(cuda::fused_from_env());
        qputenv("DESKPILOT_CUDA_FUSED", "0");
        QVERIFY(!cuda::fused_from_env());
        qputenv("DESKPILOT_CUDA_FUSED", "1");
        QVERIFY(cuda::fused_from_env());
        QVERIFY(rejectsEnv("DESKPILOT_CUDA_FUSED", "yes", [] { cuda::fused_from_env(); }));
    }

    // DESKPILOT_CUDA_GEMV=0 runs the batch-1 GEMMs through cuBLAS (the engine's matrix-vector
    // kernels by default); a bad value is one clear error naming the variable and the value.
    // Needs no GPU.
    void gemvFromTheEnvironment() {
        qunsetenv("DESKPILOT_CUDA_GEMV");
        QVERIFY(cuda::gemv_from_env());
        qputenv("DESKPILOT_CUDA_GEMV", "0");
        QVERIFY(!cuda::gemv_from_env());
        qputenv("DESKPILOT_CUDA_GEMV", "1");
        QVERIFY(cuda::gemv_from_env());
        QVERIFY(rejectsEnv("DESKPILOT_CUDA_GEMV", "cublas", [] { cuda::gemv_from_env(); }));
    }

    // DESKPILOT_CUDA_MOE_GROUPING=host groups an MoE layer's pairs on the host (on the device by
    // default); a bad value is one clear error naming the variable and the value. Needs no GPU.
    void moeGroupingFromTheEnvironment() {
        qunsetenv("DESKPILOT_CUDA_MOE_GROUPING");
        QVERIFY(cuda::moe_device_grouping_from_env());
        qputenv("DESKPILOT_CUDA_MOE_GROUPING", "host");
        QVERIFY(!cuda::moe_device_grouping_from_env());
        qputenv("DESKPILOT_CUDA_MOE_GROUPING", "device");
        QVERIFY(cuda::moe_device_grouping_from_env());
        QVERIFY(rejectsEnv("DESKPILOT_CUDA_MOE_GROUPING", "gpu",
                           [] { cuda::moe_device_grouping_from_env(); }));
    }

    // The host grouping (the twin of k::moe_group, and the host path's): stable within an
    // expert, tiles per expert rounded up, an expert no pair chose empty. Needs no GPU.
    void moeGroupingTwin() {
        // Tokens 0..2, two choices each: experts (2, 0), (1, 2), (2, 0); tiles of 2 rows.
        const std::vector<std::int32_t> idx{2, 0, 1, 2, 2, 0};
        const auto g = cuda::group_by_expert(idx, 2, 4, 2);
        QCOMPARE(g.offsets, (std::vector<std::int32_t>{0, 2, 3, 6, 6}));
        QCOMPARE(g.tiles, (std::vector<std::int32_t>{0, 1, 2, 4, 4}));
        QCOMPARE(g.src, (std::vector<std::int32_t>{0, 2, 1, 0, 1, 2}));
        QCOMPARE(g.row_of, (std::vector<std::int32_t>{3, 0, 2, 4, 5, 1}));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 cuda::group_by_expert(std::vector<std::int32_t>{0, 4}, 1, 4, 2));
    }

    // DESKPILOT_CUDA_GRAPHS=0 runs decode steps eagerly (as a CUDA graph by default); a bad value
    // is one clear error naming the variable and the value. Needs no GPU.
    void graphsFromTheEnvironment() {
        qunsetenv("DESKPILOT_CUDA_GRAPHS");
        QVERIFY(cuda::graphs_from_env());
        qputenv("DESKPILOT_CUDA_GRAPHS", "");
        QVERIFY(cuda::graphs_from_env());
        qputenv("DESKPILOT_CUDA_GRAPHS", "1");
        QVERIFY(cuda::graphs_from_env());
        qputenv("DESKPILOT_CUDA_GRAPHS", "0");
        QVERIFY(!cuda::graphs_from_env());
        QVERIFY(rejectsEnv("DESKPILOT_CUDA_GRAPHS", "on", [] { cuda::graphs_from_env(); }));
        qputenv("DESKPILOT_CUDA_GRAPHS", "true");
        try {
            cuda::graphs_from_env();
            QFAIL("DESKPILOT_CUDA_GRAPHS=true was accepted");
        } catch (const cuda::CudaError& e) {
            QCOMPARE(QString(e.what()), QString("DESKPILOT_CUDA_GRAPHS='true' is not 1 or 0"));
        }
        qunsetenv("DESKPILOT_CUDA_GRAPHS");
    }

    // Greedy decode with the decode step as a CUDA graph against the same model without: the
    // same tokens and logits (the same GEMMs, and attention_decode splits the keys as the eager
    // grid does), on both recipes' tiny checkpoints, past 64 cached tokens (the eager split-K
    // grid grows), with the first decode step eager, the second captured (one instantiation),
    // then every step replayed with no capture.
    void decodeGraphsMatchEager_data() {
        QTest::addColumn<QString>("dir");
        QTest::newRow("Qwen3-VL-MoE") << QString("engine/qwen3_vl_moe_tiny/bf16");
        QTest::newRow("Qwen2.5-VL") << QString("engine/qwen2_5_vl_tiny/bf16");
    }
    void decodeGraphsMatchEager() {
        NEED_GPU();
        QFETCH(QString, dir);
        const auto [ck, cpu] = load_tiny(dir);
        const auto eager = cuda::CudaTextModel::upload(*cpu, *ck);
        const auto graphed = cuda::CudaTextModel::upload(*cpu, *ck);
        eager->set_graphs(false);
        graphed->set_graphs(true);
        const std::int64_t V = cpu->config().text.vocab_size;
        std::vector<std::int32_t> ids;
        for (int i = 0; i < 60; ++i) ids.push_back(std::int32_t((i * 37 + 11) % 900));
        eager->reset(96);
        graphed->reset(96);
        const auto pos = engine::Positions::text(0, std::int64_t(ids.size()));
        const std::vector<float> pe = eager->forward(ids, pos);
        CLOSE(graphed->forward(ids, pos), pe, 1e-5f);
        std::int32_t next = std::int32_t(std::max_element(pe.begin(), pe.end()) - pe.begin());
        const int steps = 10;  // 60 → 70 cached tokens: 1, then 2 splits
        int bitwise = 0;
        for (int i = 0; i < steps; ++i) {
            const std::int32_t one[1] = {next};
            const auto p = engine::Positions::text(eager->length(), 1);
            if (i % 2 == 0) {  // the logits
                const std::vector<float> e = eager->forward(one, p), g = graphed->forward(one, p);
                CLOSE(g, e, 1e-5f);
                bitwise += g == e;
                next = std::int32_t(std::max_element(e.begin(), e.end()) - e.begin());
                QCOMPARE(std::int32_t(std::max_element(g.begin(), g.end()) - g.begin()), next);
            } else {  // the token chosen on the device
                next = eager->forward_greedy(one, p);
                QCOMPARE(graphed->forward_greedy(one, p), next);
            }
            QCOMPARE(graphed->length(), eager->length());
            // Another token each step (the tiny model's greedy answer repeats one): a graph that
            // replayed a stale token id would show.
            next = std::int32_t((next + 97 * (i + 1)) % V);
        }
        const cuda::GraphCounts c = graphed->graph_counts();
        qInfo(
            "graph: %lld captures, %lld instantiations, %lld updates, %lld launches, %lld "
            "replays; logits bit for bit in %d of %d steps",
            (long long)c.captures, (long long)c.instantiations, (long long)c.updates,
            (long long)c.launches, (long long)c.replays, bitwise, steps / 2);
        // The KV length and split count are read on the device: one capture, then replays.
        QCOMPARE(c.captures, std::int64_t(1));
        QCOMPARE(c.instantiations, std::int64_t(1));
        QCOMPARE(c.updates, std::int64_t(0));
        QCOMPARE(c.abandoned, std::int64_t(0));
        QCOMPARE(c.launches, std::int64_t(steps - 1));
        QVERIFY(c.replays >= std::int64_t(steps - 2));
        QCOMPARE(eager->graph_counts().captures, std::int64_t(0));
        // A bad token on a replayed step: the eager error, nothing launched, the cache as it was.
        const std::int64_t len = graphed->length();
        const std::int32_t oob[1] = {std::int32_t(V)};
        QVERIFY_EXCEPTION_THROWN(graphed->forward_greedy(oob, engine::Positions::text(len, 1)),
                                 std::invalid_argument);
        QCOMPARE(graphed->length(), len);
        QCOMPARE(graphed->graph_counts().launches, c.launches);
    }

    void decodeWithPdlMatches_data() {
        decodeGraphsMatchEager_data();
    }
#ifdef DESKPILOT_HAVE_CUDA
    // Programmatic dependent launch (pdl.h, DESKPILOT_CUDA_PDL=1) against plain launches: the same
    // logits bit for bit, eager and with the step graph, on both recipes' tiny checkpoints, past
    // 64 cached tokens. Its kernels wait for the kernels before them before they touch anything
    // those write, so only when they start may change. On a GPU before Hopper the launches stay
    // plain (said in the output).
    void decodeWithPdlMatches() {
        NEED_GPU();
        QFETCH(QString, dir);
        const auto [ck, cpu] = load_tiny(dir);
        // {plain, PDL} × {eager, graph}; the switch is the process's, so it is set around each
        // call.
        std::unique_ptr<cuda::CudaTextModel> models[2][2];
        for (int pdl = 0; pdl < 2; ++pdl)
            for (int graph = 0; graph < 2; ++graph) {
                models[pdl][graph] = cuda::CudaTextModel::upload(*cpu, *ck);
                models[pdl][graph]->set_graphs(graph == 1);
                models[pdl][graph]->reset(96);
            }
        const bool before = cuda::k::pdl();
        auto run = [&](int pdl, int graph, std::span<const std::int32_t> ids,
                       const engine::Positions& p) {
            cuda::k::set_pdl(pdl == 1);
            std::vector<float> out = models[pdl][graph]->forward(ids, p);
            cuda::k::set_pdl(before);
            return out;
        };
        cuda::k::set_pdl(true);
        qInfo("programmatic dependent launch on this GPU: %s",
              cuda::k::pdl_launches() ? "yes" : "no (before Hopper: plain launches)");
        cuda::k::set_pdl(before);
        std::vector<std::int32_t> ids;
        for (int i = 0; i < 60; ++i) ids.push_back(std::int32_t((i * 37 + 11) % 900));
        const auto pos = engine::Positions::text(0, std::int64_t(ids.size()));
        std::vector<float> plain = run(0, 0, ids, pos);
        for (int graph = 0; graph < 2; ++graph)
            for (int pdl = 0; pdl < 2; ++pdl)
                if (pdl + graph > 0) QVERIFY(run(pdl, graph, ids, pos) == plain);
        const std::int64_t V = cpu->config().text.vocab_size;
        for (int i = 0; i < 8; ++i) {  // 60 → 68 cached tokens: 1, then 2 splits
            const std::int32_t next[1] = {std::int32_t(
                (std::max_element(plain.begin(), plain.end()) - plain.begin() + 97 * (i + 1)) % V)};
            const auto p = engine::Positions::text(std::int64_t(ids.size()) + i, 1);
            plain = run(0, 0, next, p);
            const std::vector<float> graphed = run(0, 1, next, p);
            QVERIFY2(run(1, 0, next, p) == plain, qPrintable(QString("step %1, eager").arg(i)));
            QVERIFY2(run(1, 1, next, p) == graphed, qPrintable(QString("step %1, graph").arg(i)));
        }
        QCOMPARE(models[1][1]->graph_counts().abandoned, std::int64_t(0));
    }
#else
    void decodeWithPdlMatches() {
        QSKIP("built without CUDA");
    }
#endif

    void decoderMatchesCpu_data() {
        QTest::addColumn<QByteArray>("moe");
        QTest::addColumn<QByteArray>("kv_type");
        QTest::addColumn<QByteArray>("fused");
        QTest::addColumn<QByteArray>("gemv");
        QTest::newRow("batched decode, bf16 KV")
            << QByteArray("") << QByteArray("") << QByteArray("") << QByteArray("");
        QTest::newRow("batched decode through cuBLAS, bf16 KV")
            << QByteArray("") << QByteArray("") << QByteArray("") << QByteArray("0");
        QTest::newRow("grouped decode, bf16 KV")
            << QByteArray("grouped") << QByteArray("bf16") << QByteArray("") << QByteArray("");
        QTest::newRow("batched decode, f32 KV")
            << QByteArray("") << QByteArray("f32") << QByteArray("") << QByteArray("");
        // The unfused kernel sequence (DESKPILOT_CUDA_FUSED=0) the fused epilogues replace.
        QTest::newRow("unfused, batched decode")
            << QByteArray("") << QByteArray("") << QByteArray("0") << QByteArray("");
        QTest::newRow("unfused, grouped decode")
            << QByteArray("grouped") << QByteArray("") << QByteArray("0") << QByteArray("");
    }

    void decoderMatchesCpu() {
        NEED_GPU();
        const std::filesystem::path dir =
            std::filesystem::path(DESKPILOT_TEST_DATA_DIR) / "engine/qwen3_vl_moe_tiny/bf16";
        engine::cpu::ThreadPool pool(2);
        const auto ck = std::make_shared<engine::Checkpoint>(dir);
        engine::Qwen3MoeTextModel cpu(engine::load_model_config(dir), ck, pool);
        QFETCH(QByteArray, moe);
        QFETCH(QByteArray, kv_type);
        QFETCH(QByteArray, fused);
        QFETCH(QByteArray, gemv);
        qputenv("DESKPILOT_CUDA_FUSED", fused);
        qputenv("DESKPILOT_CUDA_GEMV", gemv);
        // Decode steps take the batched-pointer MoE path unless told to group on the host.
        qputenv("DESKPILOT_CUDA_MOE", moe);
        qputenv("DESKPILOT_CUDA_KV", kv_type);
        cuda::CudaTextModel gpu(cpu, *ck);
        qunsetenv("DESKPILOT_CUDA_MOE");
        qunsetenv("DESKPILOT_CUDA_KV");
        qunsetenv("DESKPILOT_CUDA_FUSED");
        qunsetenv("DESKPILOT_CUDA_GEMV");
        QCOMPARE(gpu.gemv(), gemv != "0");
        QVERIFY(gpu.kv_dtype() == (kv_type == "f32" ? cuda::KvDtype::f32 : cuda::KvDtype::bf16));
        const std::vector<std::int32_t> ids = {1, 77, 300, 5, 999, 12, 40, 41, 42};
        auto kv = cpu.new_cache(32);
        gpu.reset(32);
        const auto pos = engine::Positions::text(0, std::int64_t(ids.size()));
        const auto want = cpu.forward(ids, pos, kv, true);
        const auto got = gpu.forward(ids, pos, true);
        CLOSE(got, want, 3e-2f);
        for (std::int32_t step = 0; step < 4; ++step) {
            const std::int32_t one[1] = {std::int32_t(100 + step)};
            const auto p = engine::Positions::text(kv.length, 1);
            CLOSE(gpu.forward(one, p), cpu.forward(one, p, kv), 3e-2f);
        }
        QCOMPARE(gpu.length(), kv.length);
        // Past the cache's capacity: a clear error, not a write out of bounds.
        const std::vector<std::int32_t> many(40, 1);
        try {
            gpu.forward(many, engine::Positions::text(gpu.length(), 40));
            QFAIL("overflowing the KV cache was accepted");
        } catch (const cuda::CudaError& e) {
            QVERIFY2(QString(e.what()).contains("KV cache holds 32 tokens"), e.what());
        }
    }
};

QTEST_APPLESS_MAIN(CudaKernelsTest)
#include "test_cuda_kernels.moc"
