#include "model/engine/vision/preprocess.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace deskpilot::model::engine {

namespace {

// fn(y) for every row y in [0, n), as jobs on `pool`: a 1080p screenshot takes over 100 ms on
// one core, and the jobs are where a StopScope (a cancelled generate()) stops it.
template <class Fn>
void for_rows(cpu::ThreadPool& pool, int n, const Fn& fn) {
    pool.parallel_for(n, 1, [&](std::int64_t a, std::int64_t b) {
        for (std::int64_t y = a; y < b; ++y) fn(int(y));
    });
}

// Pillow's bicubic kernel (a = −0.5) and its 8-bit fixed point: coefficients scaled by 2^22,
// sums started at half a unit, results clipped to 0..255 after every pass.
constexpr int kPrecisionBits = 32 - 8 - 2;

double bicubic(double x) {
    constexpr double a = -0.5;
    x = std::fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

struct Taps {
    int ksize = 0;
    std::vector<int> first, count;  // per output index
    std::vector<int> coeff;         // [out][ksize], fixed point
};

// Which inputs each output sample reads and with what weights. Downscaling widens the kernel
// by the scale (antialiasing), exactly as Pillow's precompute_coeffs does, in double.
Taps taps_for(int in_size, int out_size) {
    const double scale = double(in_size) / out_size;
    const double filterscale = std::max(scale, 1.0);
    const double support = 2.0 * filterscale;
    Taps t;
    t.ksize = int(std::ceil(support)) * 2 + 1;
    t.first.resize(std::size_t(out_size));
    t.count.resize(std::size_t(out_size));
    t.coeff.assign(std::size_t(out_size) * std::size_t(t.ksize), 0);
    std::vector<double> k(std::size_t(t.ksize));
    for (int o = 0; o < out_size; ++o) {
        const double center = (o + 0.5) * scale;
        const int lo = std::max(int(center - support + 0.5), 0);  // int(): truncation, as in C
        const int n = std::min(int(center + support + 0.5), in_size) - lo;
        double total = 0.0;
        for (int i = 0; i < n; ++i) {
            k[std::size_t(i)] = bicubic((i + lo - center + 0.5) / filterscale);
            total += k[std::size_t(i)];
        }
        for (int i = 0; i < n; ++i) {
            const double w = total != 0.0 ? k[std::size_t(i)] / total : k[std::size_t(i)];
            const double scaled = w * double(1 << kPrecisionBits);
            t.coeff[std::size_t(o) * std::size_t(t.ksize) + std::size_t(i)] =
                int(w < 0 ? scaled - 0.5 : scaled + 0.5);
        }
        t.first[std::size_t(o)] = lo;
        t.count[std::size_t(o)] = n;
    }
    return t;
}

std::uint8_t clip8(int v) {
    if (v >= (1 << kPrecisionBits << 8)) return 255;
    if (v <= 0) return 0;
    return std::uint8_t(v >> kPrecisionBits);
}

// One pass along x (step 3 bytes) or y (step one row) over an interleaved RGB image.
std::vector<std::uint8_t> resample_rows(const std::uint8_t* in, int w, int h, int out_w,
                                        cpu::ThreadPool& pool) {
    const Taps t = taps_for(w, out_w);
    std::vector<std::uint8_t> out(std::size_t(out_w) * std::size_t(h) * 3);
    for_rows(pool, h, [&](int y) {
        const std::uint8_t* src = in + std::size_t(y) * std::size_t(w) * 3;
        std::uint8_t* dst = out.data() + std::size_t(y) * std::size_t(out_w) * 3;
        for (int x = 0; x < out_w; ++x) {
            const int* k = t.coeff.data() + std::size_t(x) * std::size_t(t.ksize);
            const std::uint8_t* s = src + std::size_t(t.first[std::size_t(x)]) * 3;
            for (int c = 0; c < 3; ++c) {
                int acc = 1 << (kPrecisionBits - 1);
                for (int i = 0; i < t.count[std::size_t(x)]; ++i) acc += int(s[i * 3 + c]) * k[i];
                dst[x * 3 + c] = clip8(acc);
            }
        }
    });
    return out;
}

std::vector<std::uint8_t> resample_cols(const std::uint8_t* in, int w, int h, int out_h,
                                        cpu::ThreadPool& pool) {
    const Taps t = taps_for(h, out_h);
    const std::size_t row = std::size_t(w) * 3;
    std::vector<std::uint8_t> out(std::size_t(out_h) * row);
    for_rows(pool, out_h, [&](int y) {
        const int* k = t.coeff.data() + std::size_t(y) * std::size_t(t.ksize);
        const std::uint8_t* src = in + std::size_t(t.first[std::size_t(y)]) * row;
        std::uint8_t* dst = out.data() + std::size_t(y) * row;
        for (std::size_t x = 0; x < row; ++x) {
            int acc = 1 << (kPrecisionBits - 1);
            for (int i = 0; i < t.count[std::size_t(y)]; ++i)
                acc += int(src[std::size_t(i) * row + x]) * k[i];
            dst[x] = clip8(acc);
        }
    });
    return out;
}

}  // namespace

std::vector<std::uint8_t> resize_bicubic_rgb8(const std::uint8_t* rgb, int width, int height,
                                              int out_width, int out_height,
                                              cpu::ThreadPool& pool) {
    if (width <= 0 || height <= 0 || out_width <= 0 || out_height <= 0)
        throw std::invalid_argument("resize_bicubic_rgb8: empty image size");
    // Pillow resamples horizontally first, then vertically, skipping a pass that keeps its size.
    std::vector<std::uint8_t> cur(rgb, rgb + std::size_t(width) * std::size_t(height) * 3);
    if (out_width != width) cur = resample_rows(cur.data(), width, height, out_width, pool);
    if (out_height != height) cur = resample_cols(cur.data(), out_width, height, out_height, pool);
    return cur;
}

std::int64_t PixelValues::merged_tokens() const {
    return std::int64_t(grid_thw[0]) * grid_thw[1] * grid_thw[2] / 4;
}

PixelValues preprocess_image(const vision::Frame& frame, const PreprocessParams& params,
                             std::int64_t max_pixels_cap, cpu::ThreadPool& pool) {
    if (frame.empty()) throw vision::ResizeError("preprocess_image: the image is empty");
    vision::SmartResizeParams resize = params.resize;
    if (max_pixels_cap > 0) {
        if (max_pixels_cap < resize.min_pixels)
            throw std::invalid_argument("pixel cap " + std::to_string(max_pixels_cap) +
                                        " is below the model's minimum of " +
                                        std::to_string(resize.min_pixels) + " pixels");
        resize.max_pixels = std::min(resize.max_pixels, max_pixels_cap);
    }
    const vision::Size size = vision::smart_resize(frame.size(), resize);

    std::vector<std::uint8_t> rgb(std::size_t(frame.width) * std::size_t(frame.height) * 3);
    for_rows(pool, frame.height, [&](int y) {
        const std::uint8_t* s = frame.row(y);
        std::uint8_t* d = rgb.data() + std::size_t(y) * std::size_t(frame.width) * 3;
        for (int x = 0; x < frame.width; ++x) {  // BGRA → RGB
            d[x * 3 + 0] = s[x * 4 + 2];
            d[x * 3 + 1] = s[x * 4 + 1];
            d[x * 3 + 2] = s[x * 4 + 0];
        }
    });
    const std::vector<std::uint8_t> img =
        resize_bicubic_rgb8(rgb.data(), frame.width, frame.height, size.width, size.height, pool);

    // Normalisation as a table: every 8-bit value maps to one float per channel.
    std::array<std::array<float, 256>, 3> lut{};
    for (int c = 0; c < 3; ++c)
        for (int u = 0; u < 256; ++u)
            lut[std::size_t(c)][std::size_t(u)] =
                float((u / 255.0 - double(params.mean[std::size_t(c)])) /
                      double(params.std[std::size_t(c)]));

    const int p = params.patch_size, m = params.merge_size, tp = params.temporal_patch_size;
    const int gh = size.height / p, gw = size.width / p;
    PixelValues out;
    out.resized = size;
    out.grid_thw = {1, gh, gw};
    out.rows = std::int64_t(gh) * gw;
    out.cols = std::int64_t(3) * tp * p * p;
    out.data.resize(std::size_t(out.rows * out.cols));
    // One job per row of merge blocks: its patches are a contiguous run of rows.
    const int blocks_w = gw / m;
    for_rows(pool, gh / m, [&](int bh) {
        float* dst = out.data.data() + std::size_t(bh) * std::size_t(blocks_w) * std::size_t(m) *
                                           std::size_t(m) * std::size_t(out.cols);
        for (int bw = 0; bw < blocks_w; ++bw)
            for (int mh = 0; mh < m; ++mh)
                for (int mw = 0; mw < m; ++mw) {
                    const int y0 = (bh * m + mh) * p, x0 = (bw * m + mw) * p;
                    for (int c = 0; c < 3; ++c)
                        for (int t = 0; t < tp; ++t)  // the still image, once per frame
                            for (int y = 0; y < p; ++y) {
                                const std::uint8_t* s =
                                    img.data() + (std::size_t(y0 + y) * std::size_t(size.width) +
                                                  std::size_t(x0)) *
                                                     3;
                                for (int x = 0; x < p; ++x)
                                    *dst++ = lut[std::size_t(c)][s[x * 3 + c]];
                            }
                }
    });
    return out;
}

}  // namespace deskpilot::model::engine
