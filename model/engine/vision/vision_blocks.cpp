#include "model/engine/vision/vision_blocks.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>

#include "model/engine/cpu/ops.h"

namespace deskpilot::model::engine::vblocks {

using cpu::Layout;
using cpu::WeightView;

void apply(const Linear& l, const float* x, std::int64_t rows, float* y, cpu::ThreadPool& pool) {
    cpu::linear(x, rows, l.w, y, pool);
    const std::int64_t n = l.w.out_features();
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t i = 0; i < n; ++i) y[r * n + i] += l.b[std::size_t(i)];
}

std::vector<float> to_vec(const Tensor& t) {
    const Tensor f = t.to_f32();
    return std::vector<float>(f.data<float>(), f.data<float>() + f.numel());
}

VisionWeights::VisionWeights(const Checkpoint& ck) : ck_(ck) {
    for (const char* p : {"model.visual.", "visual."})
        if (ck.has(std::string(p) + "patch_embed.proj.weight")) {
            prefix_ = p;
            return;
        }
    throw CheckpointError(ck.path().string() +
                          ": no vision tower (patch_embed.proj.weight under model.visual.* or "
                          "visual.*)");
}

Tensor VisionWeights::need(const std::string& name, const Shape& shape) const {
    const std::string full = prefix_ + name;
    if (!ck_.has(full))
        throw CheckpointError(ck_.path().string() + ": tensor '" + full + "' is missing");
    Tensor t = ck_.get(full);
    if (t.shape() != shape)
        throw CheckpointError(ck_.path().string() + ": tensor '" + full + "' has shape " +
                              shape_to_string(t.shape()) + " but the config needs " +
                              shape_to_string(shape));
    return t;
}

Linear VisionWeights::linear(const std::string& name, std::int64_t out, std::int64_t in) const {
    return {WeightView::of(need(name + ".weight", {out, in}), Layout::out_in),
            to_vec(need(name + ".bias", {out}))};
}

PatchEmbed::PatchEmbed(std::vector<float> weight, std::vector<float> bias, std::int64_t hid, int tp,
                       int p)
    : full_(std::move(weight)), bias_(std::move(bias)), hid_(hid), tp_(tp), p_(p) {
    const std::int64_t p2 = std::int64_t(p) * p;
    sum_.assign(std::size_t(hid * 3 * p2), 0.0f);
    for (std::int64_t o = 0; o < hid; ++o)
        for (std::int64_t c = 0; c < 3; ++c)
            for (std::int64_t t = 0; t < tp; ++t)
                for (std::int64_t k = 0; k < p2; ++k)
                    sum_[std::size_t((o * 3 + c) * p2 + k)] +=
                        full_[std::size_t(((o * 3 + c) * tp + t) * p2 + k)];
}

void PatchEmbed::run(const PixelValues& px, float* out, cpu::ThreadPool& pool) const {
    const std::int64_t p2 = std::int64_t(p_) * p_, tp = tp_, hid = hid_, S = px.rows;
    // A still image repeats frame 0 in every temporal slot; then frame 0 alone goes through the
    // summed weight (1/tp of the GEMM's inner dimension).
    std::atomic<bool> still{true};
    pool.parallel_for(S, 64, [&](std::int64_t a, std::int64_t b) {
        for (std::int64_t r = a; r < b && still.load(std::memory_order_relaxed); ++r)
            for (std::int64_t c = 0; c < 3; ++c)
                for (std::int64_t t = 1; t < tp; ++t)
                    if (std::memcmp(&px.data[std::size_t(r * px.cols + c * tp * p2)],
                                    &px.data[std::size_t(r * px.cols + (c * tp + t) * p2)],
                                    std::size_t(p2) * sizeof(float)) != 0)
                        still.store(false, std::memory_order_relaxed);
    });
    if (still) {
        // Written whole below, so left unzeroed (the copy's pool jobs touch it first).
        const auto first = std::make_unique_for_overwrite<float[]>(std::size_t(S * 3 * p2));
        pool.parallel_for(S, 64, [&](std::int64_t a, std::int64_t b) {
            for (std::int64_t r = a; r < b; ++r)
                for (std::int64_t c = 0; c < 3; ++c)
                    std::memcpy(&first[std::size_t((r * 3 + c) * p2)],
                                &px.data[std::size_t(r * px.cols + c * tp * p2)],
                                std::size_t(p2) * sizeof(float));
        });
        const WeightView w{sum_.data(), DType::F32, hid, 3 * p2, 3 * p2, Layout::out_in};
        cpu::linear(first.get(), S, w, out, pool);
    } else {
        const WeightView w{full_.data(), DType::F32, hid, px.cols, px.cols, Layout::out_in};
        cpu::linear(px.data.data(), S, w, out, pool);
    }
    if (!bias_.empty())
        pool.parallel_for(S, 64, [&](std::int64_t a, std::int64_t b) {
            for (std::int64_t r = a; r < b; ++r)
                for (std::int64_t i = 0; i < hid; ++i) out[r * hid + i] += bias_[std::size_t(i)];
        });
}

void layer_norm(const float* x, std::int64_t rows, std::int64_t d, const float* w, const float* b,
                double eps, float* out) {
    for (std::int64_t r = 0; r < rows; ++r) {
        const float* v = x + r * d;
        double mean = 0, var = 0;
        for (std::int64_t i = 0; i < d; ++i) mean += v[i];
        mean /= double(d);
        for (std::int64_t i = 0; i < d; ++i) var += (v[i] - mean) * (v[i] - mean);
        var /= double(d);
        const double inv = 1.0 / std::sqrt(var + eps);
        for (std::int64_t i = 0; i < d; ++i)
            out[r * d + i] = float((v[i] - mean) * inv) * w[i] + b[i];
    }
}

void layer_norm(const float* x, std::int64_t rows, std::int64_t d, const float* w, const float* b,
                double eps, float* out, cpu::ThreadPool& pool) {
    pool.parallel_for(rows, 16, [&](std::int64_t a, std::int64_t e) {
        layer_norm(x + a * d, e - a, d, w, b, eps, out + a * d);
    });
}

void add_in_place(float* x, const float* y, std::int64_t n, cpu::ThreadPool& pool) {
    pool.parallel_for(
        n, 1 << 16,
        [&](std::int64_t a, std::int64_t e) {
            for (std::int64_t i = a; i < e; ++i) x[i] += y[i];
        },
        /*max_chunk=*/1 << 20);
}

void gelu_in_place(float* x, std::int64_t n, bool tanh_form, cpu::ThreadPool& pool) {
    pool.parallel_for(
        n, 1 << 14,
        [&](std::int64_t a, std::int64_t e) {
            for (std::int64_t i = a; i < e; ++i)
                x[i] = tanh_form ? gelu_tanh(x[i]) : gelu_erf(x[i]);
        },
        /*max_chunk=*/1 << 18);  // a few ms each
}

void gather_rows(const float* x, std::span<const std::int64_t> src, std::int64_t width, float* out,
                 cpu::ThreadPool& pool) {
    pool.parallel_for(std::int64_t(src.size()), 64, [&](std::int64_t a, std::int64_t b) {
        for (std::int64_t i = a; i < b; ++i)
            std::memcpy(out + i * width, x + src[std::size_t(i)] * width,
                        std::size_t(width) * sizeof(float));
    });
}

void scatter_rows(const float* x, std::span<const std::int64_t> dst, std::int64_t width, float* out,
                  cpu::ThreadPool& pool) {
    pool.parallel_for(std::int64_t(dst.size()), 64, [&](std::int64_t a, std::int64_t b) {
        for (std::int64_t i = a; i < b; ++i)
            std::memcpy(out + dst[std::size_t(i)] * width, x + i * width,
                        std::size_t(width) * sizeof(float));
    });
}

void patch_rc(std::int64_t i, int gw, int m, int& r, int& c) {
    const std::int64_t within = i % (m * m), block = i / (m * m);
    const int bw = gw / m;
    r = int(block / bw) * m + int(within / m);
    c = int(block % bw) * m + int(within % m);
}

// F.interpolate(bilinear, align_corners=True) of the side×side table at each patch, in f32. Each
// patch's row is summed alone (the same values for any pool size), as pool jobs: a full
// screenshot is ~40 M multiply-adds, tens of ms on one thread, and a job is where a StopScope is
// seen.
void add_learned_positions(const float* table, int side, std::int64_t hid, int gh, int gw,
                           int merge, float* x, cpu::ThreadPool& pool) {
    const std::int64_t S = std::int64_t(gh) * gw;
    auto taps = [&](int index, int size, int t[2], float w[2]) {
        const float src = float(index) * float(side - 1) / float(std::max(size - 1, 1));
        const float f = std::floor(src);
        for (int k = 0; k < 2; ++k) {
            t[k] = std::clamp(int(f) + k, 0, side - 1);
            w[k] = std::max(1.0f - std::fabs(src - f - float(k)), 0.0f);
        }
    };
    pool.parallel_for(S, 64, [&](std::int64_t s0, std::int64_t s1) {
        std::vector<float> acc(static_cast<std::size_t>(hid));
        for (std::int64_t i = s0; i < s1; ++i) {
            int r, c, th[2], tw[2];
            float wh[2], ww[2];
            patch_rc(i, gw, merge, r, c);
            taps(r, gh, th, wh);
            taps(c, gw, tw, ww);
            std::fill(acc.begin(), acc.end(), 0.0f);
            for (int a = 0; a < 2; ++a)
                for (int b = 0; b < 2; ++b) {
                    const float w = wh[a] * ww[b];
                    const float* row = table + (std::int64_t(th[a]) * side + tw[b]) * hid;
                    for (std::int64_t k = 0; k < hid; ++k) acc[std::size_t(k)] += row[k] * w;
                }
            for (std::int64_t k = 0; k < hid; ++k) x[i * hid + k] += acc[std::size_t(k)];
        }
    });
}

std::vector<float> rope2d_inv_freq(int hd, double theta) {
    std::vector<float> f;
    for (int j = 0; j < hd / 4; ++j)
        f.push_back(1.0f / std::pow(float(theta), float(2 * j) / float(hd / 2)));
    return f;
}

std::vector<std::int32_t> rope2d_positions(std::span<const std::int64_t> order, int gw, int m) {
    const std::size_t S = order.size();
    std::vector<std::int32_t> pos(2 * S);
    for (std::size_t i = 0; i < S; ++i) {
        int r, c;
        patch_rc(order[i], gw, m, r, c);
        pos[i] = r;
        pos[S + i] = c;
    }
    return pos;
}

void rope2d_rotate(float* qkv_row, std::int64_t heads, std::int64_t hd, const float* cos,
                   const float* sin) {
    for (int part = 0; part < 2; ++part)  // q, then k
        cpu::apply_rope(qkv_row + part * heads * hd, heads, hd / 2, cos, sin);
}

void rope2d_tables(std::span<const std::int64_t> order, int gw, int m,
                   const std::vector<float>& inv_freq, std::vector<float>& cos,
                   std::vector<float>& sin) {
    const std::int64_t quarter = std::int64_t(inv_freq.size()), half = 2 * quarter,
                       S = std::int64_t(order.size());
    cos.assign(std::size_t(S * half), 0.0f);
    sin.assign(std::size_t(S * half), 0.0f);
    for (std::int64_t i = 0; i < S; ++i) {
        int r, c;
        patch_rc(order[std::size_t(i)], gw, m, r, c);
        for (std::int64_t j = 0; j < quarter; ++j) {
            const float ah = float(r) * inv_freq[std::size_t(j)],
                        aw = float(c) * inv_freq[std::size_t(j)];
            cos[std::size_t(i * half + j)] = std::cos(ah);
            sin[std::size_t(i * half + j)] = std::sin(ah);
            cos[std::size_t(i * half + quarter + j)] = std::cos(aw);
            sin[std::size_t(i * half + quarter + j)] = std::sin(aw);
        }
    }
}

void segment_attention_reference(float* qkv, std::int64_t S, std::int64_t heads, std::int64_t hd,
                                 const std::vector<float>& cos, const std::vector<float>& sin,
                                 std::span<const std::int64_t> segments, float* attn,
                                 cpu::ThreadPool& pool) {
    const std::int64_t hid = heads * hd, half = hd / 2;
    // Row-wise steps over all patches run as pool jobs too: on a full screenshot (~10k patches)
    // each takes tens of ms, and a pool job is where a StopScope is seen.
    pool.parallel_for(S, 64, [&](std::int64_t s0, std::int64_t s1) {
        for (std::int64_t s = s0; s < s1; ++s)
            rope2d_rotate(&qkv[std::size_t(s * 3 * hid)], heads, hd, &cos[std::size_t(s * half)],
                          &sin[std::size_t(s * half)]);
    });
    std::int64_t longest = 0;
    for (std::size_t i = 0; i + 1 < segments.size(); ++i)
        longest = std::max(longest, segments[i + 1] - segments[i]);
    const float scale = 1.0f / std::sqrt(float(hd));
    std::vector<float> q(std::size_t(S * hd)), k(std::size_t(S * hd)), v(std::size_t(S * hd));
    const std::int64_t chunk = 256;  // query rows per score block: bounded memory on big images
    std::vector<float> scores(std::size_t(std::min(longest, chunk) * longest)),
        out(std::size_t(std::min(longest, chunk) * hd));
    for (std::int64_t h = 0; h < heads; ++h) {
        pool.parallel_for(S, 256, [&](std::int64_t s0, std::int64_t s1) {
            for (std::int64_t s = s0; s < s1; ++s)
                for (std::int64_t d = 0; d < hd; ++d) {
                    q[std::size_t(s * hd + d)] = qkv[std::size_t((s * 3 + 0) * hid + h * hd + d)];
                    k[std::size_t(s * hd + d)] = qkv[std::size_t((s * 3 + 1) * hid + h * hd + d)];
                    v[std::size_t(s * hd + d)] = qkv[std::size_t((s * 3 + 2) * hid + h * hd + d)];
                }
        });
        for (std::size_t seg = 0; seg + 1 < segments.size(); ++seg) {
            const std::int64_t s0 = segments[seg], n = segments[seg + 1] - s0;
            if (n <= 0) continue;
            const WeightView kw{&k[std::size_t(s0 * hd)], DType::F32, n, hd, hd, Layout::out_in};
            const WeightView vw{&v[std::size_t(s0 * hd)], DType::F32, n, hd, hd, Layout::in_out};
            for (std::int64_t q0 = 0; q0 < n; q0 += chunk) {
                const std::int64_t rows = std::min(chunk, n - q0);
                cpu::linear(&q[std::size_t((s0 + q0) * hd)], rows, kw, scores.data(), pool);
                pool.parallel_for(rows, 8, [&](std::int64_t r0, std::int64_t r1) {
                    for (std::int64_t r = r0; r < r1; ++r) {  // fp32 softmax
                        float* row = &scores[std::size_t(r * n)];
                        float mx = -INFINITY;
                        for (std::int64_t j = 0; j < n; ++j) mx = std::max(mx, row[j] * scale);
                        float sum = 0;
                        for (std::int64_t j = 0; j < n; ++j)
                            sum += row[j] = std::exp(row[j] * scale - mx);
                        for (std::int64_t j = 0; j < n; ++j) row[j] /= sum;
                    }
                });
                cpu::linear(scores.data(), rows, vw, out.data(), pool);
                for (std::int64_t r = 0; r < rows; ++r)
                    std::memcpy(&attn[std::size_t((s0 + q0 + r) * hid + h * hd)],
                                &out[std::size_t(r * hd)], std::size_t(hd) * sizeof(float));
            }
        }
    }
}

}  // namespace deskpilot::model::engine::vblocks
