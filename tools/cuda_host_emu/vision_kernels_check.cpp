// Runs the real vision_kernels.cu kernels on the host (prelude.h emulates threads, shared memory,
// barriers and shuffles) against their CPU twins in vision_blocks.cpp (vblocks::layer_norm,
// gelu_tanh / gelu_erf, rope2d_tables + rope2d_rotate, gather_rows, scatter_rows). Not part of
// the build; see run.sh.
#include <cstdio>
#include <numeric>
#include <random>

#include "model/engine/vision/vision_blocks.h"
#include "vk_emu.cpp"  // vision_kernels.cu with the launches rewritten (run.sh)
namespace k = deskpilot::model::cuda::k;
namespace vb = deskpilot::model::engine::vblocks;
static std::vector<float> rnd(std::size_t n, unsigned seed, float mean = 0, float sd = 1) {
    std::mt19937 g(seed);
    std::normal_distribution<float> d(mean, sd);
    std::vector<float> v(n);
    for (auto& x : v) x = d(g);
    return v;
}
// Largest |a - b| relative to max |b|.
static float err(const std::vector<float>& a, const std::vector<float>& b) {
    float w = 0, m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        w = std::max(w, std::fabs(a[i] - b[i]));
        m = std::max(m, std::fabs(b[i]));
    }
    return m > 0 ? w / m : w;
}
static int report(const char* what, float e, float tol) {
    std::printf("%-44s %.3g%s\n", what, e, e < tol ? "" : "  FAIL");
    return !(e < tol);
}
int main() {
    int bad = 0;
    char name[96];
    // LayerNorm: widths below, at and above one block's thread count, both block sizes (d ≥ 1024
    // launches 512 threads), a large mean (the two-pass variance), in place.
    for (auto [rows, d, mean] :
         {std::tuple{3L, 32L, 0.0f}, std::tuple{4L, 100L, 0.0f}, std::tuple{2L, 1152L, 0.0f},
          std::tuple{5L, 72L, 300.0f}, std::tuple{1L, 1L, 2.0f}}) {
        auto x = rnd(std::size_t(rows * d), 1, mean), w = rnd(std::size_t(d), 2),
             b = rnd(std::size_t(d), 3);
        std::vector<float> want(x.size()), got(x);
        vb::layer_norm(x.data(), rows, d, w.data(), b.data(), 1e-6, want.data());
        k::layer_norm(got.data(), w.data(), b.data(), rows, d, 1e-6f, got.data(), nullptr);
        std::snprintf(name, sizeof name, "layer_norm rows %ld d %ld mean %g (in place)", rows, d,
                      double(mean));
        bad += report(name, err(got, want), 2e-5f);
    }
    // GELU both forms, n not a multiple of the block, over a wide range.
    for (bool tanh_form : {true, false}) {
        auto x = rnd(1000, 4, 0, 4);
        std::vector<float> want(x.size()), got(x.size(), 9.0f);
        for (std::size_t i = 0; i < x.size(); ++i)
            want[i] = tanh_form ? vb::gelu_tanh(x[i]) : vb::gelu_erf(x[i]);
        k::gelu(x.data(), std::int64_t(x.size()), tanh_form, got.data(), nullptr);
        bad += report(tanh_form ? "gelu tanh n 1000" : "gelu erf n 1000", err(got, want), 1e-6f);
    }
    // 2-D rotary: a merge-ordered non-square grid, the CPU tables vs the kernel's positions.
    for (auto [gh, gw, heads, hd] :
         {std::tuple{4, 6, 2, 16}, std::tuple{6, 2, 3, 72}, std::tuple{2, 2, 1, 4}}) {
        const int merge = 2;
        const std::int64_t S = std::int64_t(gh) * gw;
        std::vector<std::int64_t> order(static_cast<std::size_t>(S));
        std::iota(order.begin(), order.end(), 0);
        const auto inv = vb::rope2d_inv_freq(hd, 10000.0);
        std::vector<float> cos, sin;
        vb::rope2d_tables(order, gw, merge, inv, cos, sin);
        auto qkv = rnd(std::size_t(S * 3 * heads * hd), 5);
        std::vector<float> want = qkv, got = qkv;
        for (std::int64_t s = 0; s < S; ++s)
            vb::rope2d_rotate(&want[std::size_t(s * 3 * heads * hd)], heads, hd,
                              &cos[std::size_t(s * hd / 2)], &sin[std::size_t(s * hd / 2)]);
        const auto pos = vb::rope2d_positions(order, gw, merge);
        k::rope2d(got.data(), S, heads, hd, pos.data(), inv.data(), nullptr);
        std::snprintf(name, sizeof name, "rope2d %dx%d heads %d hd %d (v untouched)", gh, gw, heads,
                      hd);
        bad += report(name, err(got, want), 1e-6f);
    }
    // Bias rows: width not a multiple of the block, rows spanning several blocks.
    {
        const std::int64_t rows = 9, n = 70;
        auto x = rnd(std::size_t(rows * n), 8), b = rnd(std::size_t(n), 9);
        std::vector<float> want = x, got = x;
        for (std::int64_t r = 0; r < rows; ++r)
            for (std::int64_t i = 0; i < n; ++i) want[std::size_t(r * n + i)] += b[std::size_t(i)];
        k::add_bias(got.data(), b.data(), rows, n, nullptr);
        bad += report("add_bias rows 9 n 70", err(got, want), 1e-30f);
    }
    // Row permutations: a shuffled order out and back, width below and above the block.
    for (std::int64_t width : {5L, 300L}) {
        const std::int64_t n = 37;
        std::vector<std::int64_t> idx(static_cast<std::size_t>(n));
        std::iota(idx.begin(), idx.end(), 0);
        std::shuffle(idx.begin(), idx.end(), std::mt19937(6));
        const std::vector<std::int32_t> idx32(idx.begin(), idx.end());
        auto x = rnd(std::size_t(n * width), 7);
        std::vector<float> want(x.size()), got(x.size(), 9.0f);
        vb::gather_rows(x.data(), idx, width, want.data());
        k::gather_rows(x.data(), idx32.data(), n, width, got.data(), nullptr);
        std::snprintf(name, sizeof name, "gather_rows n %ld width %ld", long(n), long(width));
        bad += report(name, err(got, want), 1e-30f);
        std::vector<float> back(x.size(), 9.0f), back_cpu(x.size(), 9.0f);
        vb::scatter_rows(want.data(), idx, width, back_cpu.data());
        k::scatter_rows(got.data(), idx32.data(), n, width, back.data(), nullptr);
        std::snprintf(name, sizeof name, "scatter_rows n %ld width %ld (round trip)", long(n),
                      long(width));
        bad += report(name, std::max(err(back, back_cpu), err(back, x)), 1e-30f);
    }
    // The rejected head_dim: a clear error, not a launch.
    try {
        std::vector<float> q(6);
        const std::int32_t pos[2] = {0, 0};
        const float inv[1] = {1};
        k::rope2d(q.data(), 1, 1, 2, pos, inv, nullptr);
        bad += report("rope2d hd 2 throws", 1, 0.5f);
    } catch (const deskpilot::model::cuda::CudaError& e) {
        std::printf("rope2d hd 2: %s\n", e.what());
    }
    std::printf("%s\n", bad ? "FAIL" : "ok");
    return bad;
}
