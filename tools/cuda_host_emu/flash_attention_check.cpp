// Runs the real flash attention kernels on the host (prelude.h emulates threads, shared memory,
// barriers, shuffles and the tensor-core multiply-add) against a double-precision reference:
// indexing, masks, tile unions and the online softmax checked without a GPU, for both
// FlashKernels: f32 (flash_attention.cu) within 2e-6 of the largest output, and mma
// (flash_attention_mma.cu: bf16 Q, K, V and weights) within kMmaTolerance. Not part of the
// build; see run.sh.
#include <cstdio>
#include <random>
#include "fa_emu.cpp"   // flash_attention.cu with the launch rewritten (run.sh)
#include "fam_emu.cpp"  // flash_attention_mma.cu likewise
namespace k = deskpilot::model::cuda::k;
std::vector<float> rnd(std::size_t n, unsigned seed) {
    std::mt19937 g(seed);
    std::normal_distribution<float> d;
    std::vector<float> v(n);
    for (auto& x : v) x = d(g);
    return v;
}
float err(const std::vector<float>& a, const std::vector<float>& b) {
    float w = 0, m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        w = std::max(w, std::fabs(a[i] - b[i]));
        m = std::max(m, std::fabs(b[i]));
    }
    return w / m;
}
// out[i,h] over keys [lo,hi) given generic accessors
void ref_row(const float* q, const float* kb, const float* vb, std::int64_t kv_row, std::int64_t lo,
             std::int64_t hi, int D, float scale, float* o) {
    std::vector<double> s(std::size_t(hi - lo));
    double mx = -1e300;
    for (std::int64_t t = lo; t < hi; ++t) {
        double x = 0;
        for (int c = 0; c < D; ++c) x += double(q[c]) * kb[t * kv_row + c];
        s[std::size_t(t - lo)] = x * scale;
        mx = std::max(mx, x * scale);
    }
    double sum = 0;
    for (auto& x : s) sum += x = std::exp(x - mx);
    for (int c = 0; c < D; ++c) {
        double a = 0;
        for (std::int64_t t = lo; t < hi; ++t) a += s[std::size_t(t - lo)] * vb[t * kv_row + c];
        o[c] = float(a / sum);
    }
}
// bf16 has 8 significant bits: each input carries up to 2^-9 relative error; over a weighted
// mean of V the output's error stays well under 1% of its largest value.
constexpr float kMmaTolerance = 1e-2f;

int main() {
    int bad = 0;
    for (const auto kernel : {k::FlashKernel::f32, k::FlashKernel::mma}) {
        k::set_flash_kernel(kernel);
        const bool mma = kernel == k::FlashKernel::mma;
        const float tol = mma ? kMmaTolerance : 2e-6f;
        std::printf("%s kernel:\n", mma ? "mma (bf16 tensor cores)" : "f32");
        struct C {
            std::int64_t ql, past, NH, KH, D;
        };
        for (C c : {C{1, 0, 4, 1, 32}, C{1, 70, 4, 4, 128}, C{7, 0, 4, 1, 64}, C{37, 13, 8, 2, 72},
                    C{33, 40, 2, 2, 80}, C{50, 0, 2, 1, 128}, C{130, 60, 2, 1, 64}}) {
            const std::int64_t cap = c.past + c.ql + 5;
            auto q = rnd(std::size_t(c.ql * c.NH * c.D), 1),
                 kc = rnd(std::size_t(c.KH * cap * c.D), 2),
                 vc = rnd(std::size_t(c.KH * cap * c.D), 3);
            const float scale = 1.0f / std::sqrt(float(c.D));
            std::vector<float> want(q.size()), got(q.size(), 99.0f);
            for (std::int64_t i = 0; i < c.ql; ++i)
                for (std::int64_t h = 0; h < c.NH; ++h) {
                    const std::int64_t g = h / (c.NH / c.KH);
                    ref_row(&q[std::size_t((i * c.NH + h) * c.D)], &kc[std::size_t(g * cap * c.D)],
                            &vc[std::size_t(g * cap * c.D)], c.D, 0, c.past + i + 1, int(c.D),
                            scale, &want[std::size_t((i * c.NH + h) * c.D)]);
                }
            k::flash_attention_causal(q.data(), c.ql, c.past, c.NH, c.KH, c.D, kc.data(), vc.data(),
                                      cap, scale, got.data(), nullptr);
            const float e = err(got, want);
            std::printf("causal ql %ld past %ld %ld/%ld d %ld: %.3g\n", long(c.ql), long(c.past),
                        long(c.NH), long(c.KH), long(c.D), e);
            bad += !(e < tol);
        }
        struct G {
            std::int64_t S, H, D;
            std::vector<std::int64_t> seg;
        };
        for (const G& c : {G{40, 2, 72, {0, 40}}, G{70, 3, 64, {0, 16, 53, 54, 54, 61, 67}},
                           G{100, 1, 80, {0, 3, 35, 100}}, G{20, 2, 32, {5, 9, 20}},
                           G{24, 2, 16, {0, 24}}, G{45, 3, 16, {0, 7, 45}}}) {
            const std::int64_t hid = c.H * c.D;
            auto qkv = rnd(std::size_t(c.S * 3 * hid), 4);
            std::vector<float> want(std::size_t(c.S * hid), 7.0f), got(want.size(), 7.0f);
            for (std::size_t s = 0; s + 1 < c.seg.size(); ++s)
                for (std::int64_t i = c.seg[s]; i < c.seg[s + 1]; ++i)
                    for (std::int64_t h = 0; h < c.H; ++h)
                        ref_row(&qkv[std::size_t(i * 3 * hid + h * c.D)],
                                &qkv[std::size_t(hid + h * c.D)],
                                &qkv[std::size_t(2 * hid + h * c.D)], 3 * hid, c.seg[s],
                                c.seg[s + 1], int(c.D), 1.0f / std::sqrt(float(c.D)),
                                &want[std::size_t(i * hid + h * c.D)]);
            std::vector<std::int32_t> seg(c.seg.begin(), c.seg.end());
            k::flash_attention_segments(qkv.data(), c.S, c.H, c.D, seg.data(),
                                        std::int64_t(seg.size()) - 1, got.data(), nullptr);
            const float e = err(got, want);
            std::printf("segments S %ld H %ld d %ld: %.3g\n", long(c.S), long(c.H), long(c.D), e);
            bad += !(e < tol);
        }
    }
    std::printf("%s\n", bad ? "FAIL" : "ok");
    return bad;
}
