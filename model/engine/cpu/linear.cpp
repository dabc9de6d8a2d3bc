#include "model/engine/cpu/linear.h"

#include "model/engine/cpu/gemm_bf16.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace deskpilot::model::engine::cpu {

WeightView WeightView::of(const Tensor& t, Layout layout) {
    if (t.dim() != 2)
        throw TensorError("a weight matrix must be 2-D, not " + shape_to_string(t.shape()));
    if (t.stride(1) != 1)
        throw TensorError("a weight matrix needs unit stride in its last dimension");
    WeightView w;
    w.data = t.raw();
    w.dtype = t.dtype();
    w.rows = t.size(0);
    w.cols = t.size(1);
    w.ld = t.stride(0);
    w.layout = layout;
    return w;
}

WeightView WeightView::cols_slice(std::int64_t begin, std::int64_t end) const {
    if (begin < 0 || end < begin || end > cols) throw TensorError("cols_slice out of range");
    WeightView w = *this;
    w.data = static_cast<const char*>(data) + begin * std::int64_t(dtype_size(dtype));
    w.cols = end - begin;
    return w;
}

namespace {

// ---- scalar reference ----------------------------------------------------------------------

template <DType D>
inline float load1(const void* base, std::int64_t i) {
    if constexpr (D == DType::F32)
        return static_cast<const float*>(base)[i];
    else if constexpr (D == DType::BF16)
        return bf16_to_f32(static_cast<const std::uint16_t*>(base)[i]);
    else
        return f16_to_f32(static_cast<const std::uint16_t*>(base)[i]);
}

template <DType D>
const void* row_ptr(const WeightView& w, std::int64_t r) {
    return static_cast<const char*>(w.data) + r * w.ld * std::int64_t(dtype_size(D));
}

template <DType D>
void out_in_scalar(const float* x, std::int64_t M, const WeightView& w, float* y, std::int64_t n0,
                   std::int64_t n1) {
    const std::int64_t K = w.cols, N = w.rows;
    for (std::int64_t n = n0; n < n1; ++n) {
        const void* wr = row_ptr<D>(w, n);
        for (std::int64_t m = 0; m < M; ++m) {
            float acc = 0.0f;
            const float* xr = x + m * K;
            for (std::int64_t k = 0; k < K; ++k) acc += xr[k] * load1<D>(wr, k);
            y[m * N + n] = acc;
        }
    }
}

template <DType D>
void in_out_scalar(const float* x, std::int64_t M, const WeightView& w, float* y, std::int64_t n0,
                   std::int64_t n1) {
    const std::int64_t K = w.rows, N = w.cols;
    for (std::int64_t m = 0; m < M; ++m)
        for (std::int64_t n = n0; n < n1; ++n) y[m * N + n] = 0.0f;
    for (std::int64_t k = 0; k < K; ++k) {
        const void* wr = row_ptr<D>(w, k);
        for (std::int64_t m = 0; m < M; ++m) {
            const float xv = x[m * K + k];
            float* yr = y + m * N;
            for (std::int64_t n = n0; n < n1; ++n) yr[n] += xv * load1<D>(wr, n);
        }
    }
}

// ---- AVX2 + FMA (+F16C) ----------------------------------------------------------------------

#define DP_AVX2 __attribute__((target("avx2,fma,f16c")))

template <DType D>
DP_AVX2 inline __m256 load8(const void* base, std::int64_t i) {
    if constexpr (D == DType::F32) {
        return _mm256_loadu_ps(static_cast<const float*>(base) + i);
    } else if constexpr (D == DType::BF16) {
        const __m128i h = _mm_loadu_si128(
            reinterpret_cast<const __m128i*>(static_cast<const std::uint16_t*>(base) + i));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    } else {
        const __m128i h = _mm_loadu_si128(
            reinterpret_cast<const __m128i*>(static_cast<const std::uint16_t*>(base) + i));
        return _mm256_cvtph_ps(h);
    }
}

DP_AVX2 inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Four activation rows against one weight row at a time: each weight vector is loaded once for
// four products (prefill), and decode (M = 1) streams the weights at full width.
template <DType D>
DP_AVX2 void out_in_avx2(const float* x, std::int64_t M, const WeightView& w, float* y,
                         std::int64_t n0, std::int64_t n1) {
    const std::int64_t K = w.cols, N = w.rows, K8 = K / 8 * 8;
    for (std::int64_t n = n0; n < n1; ++n) {
        const void* wr = row_ptr<D>(w, n);
        std::int64_t m = 0;
        for (; m + 4 <= M; m += 4) {
            const float* x0 = x + m * K;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (std::int64_t k = 0; k < K8; k += 8) {
                const __m256 wv = load8<D>(wr, k);
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + k), wv, a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + K + k), wv, a1);
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + 2 * K + k), wv, a2);
                a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + 3 * K + k), wv, a3);
            }
            float s[4] = {hsum(a0), hsum(a1), hsum(a2), hsum(a3)};
            for (std::int64_t k = K8; k < K; ++k) {
                const float wv = load1<D>(wr, k);
                for (int r = 0; r < 4; ++r) s[r] += x0[r * K + k] * wv;
            }
            for (int r = 0; r < 4; ++r) y[(m + r) * N + n] = s[r];
        }
        for (; m < M; ++m) {
            const float* xr = x + m * K;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0;
            std::int64_t k = 0;
            for (; k + 16 <= K8; k += 16) {
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(xr + k), load8<D>(wr, k), a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(xr + k + 8), load8<D>(wr, k + 8), a1);
            }
            for (; k < K8; k += 8)
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(xr + k), load8<D>(wr, k), a0);
            float s = hsum(_mm256_add_ps(a0, a1));
            for (; k < K; ++k) s += xr[k] * load1<D>(wr, k);
            y[m * N + n] = s;
        }
    }
}

// R activation rows (x, y at the first) by 16 columns from n: each pair of weight vectors,
// converted once, feeds 2R FMAs. At most six rows: twelve accumulators, two weight vectors and a
// broadcast fill AVX2's sixteen registers.
template <DType D, int R>
DP_AVX2 inline void in_out_tile_avx2(const float* x, const WeightView& w, float* y,
                                     std::int64_t n) {
    const std::int64_t K = w.rows, N = w.cols;
    __m256 a[R][2];
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) a[r][0] = a[r][1] = _mm256_setzero_ps();
    for (std::int64_t k = 0; k < K; ++k) {
        const void* wr = row_ptr<D>(w, k);
        const __m256 w0 = load8<D>(wr, n), w1 = load8<D>(wr, n + 8);
#pragma GCC unroll 6
        for (int r = 0; r < R; ++r) {
            const __m256 xv = _mm256_broadcast_ss(x + r * K + k);
            a[r][0] = _mm256_fmadd_ps(xv, w0, a[r][0]);
            a[r][1] = _mm256_fmadd_ps(xv, w1, a[r][1]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
        _mm256_storeu_ps(y + r * N + n, a[r][0]);
        _mm256_storeu_ps(y + r * N + n + 8, a[r][1]);
    }
}

// Prefill: tiles of six rows by 16 columns, the last rows in one tile of their own height,
// columns outermost so a 16-column slab of W stays in cache while every row block passes.
template <DType D>
DP_AVX2 void in_out_avx2(const float* x, std::int64_t M, const WeightView& w, float* y,
                         std::int64_t n0, std::int64_t n1) {
    const std::int64_t K = w.rows, N = w.cols;
    if (M >= 4) {
        const std::int64_t M6 = M / 6 * 6, rest = M - M6, n16 = n0 + (n1 - n0) / 16 * 16;
        for (std::int64_t n = n0; n < n16; n += 16) {
            for (std::int64_t m = 0; m < M6; m += 6)
                in_out_tile_avx2<D, 6>(x + m * K, w, y + m * N, n);
            const float* xr = x + M6 * K;
            float* yr = y + M6 * N;
            switch (rest) {
                case 1:
                    in_out_tile_avx2<D, 1>(xr, w, yr, n);
                    break;
                case 2:
                    in_out_tile_avx2<D, 2>(xr, w, yr, n);
                    break;
                case 3:
                    in_out_tile_avx2<D, 3>(xr, w, yr, n);
                    break;
                case 4:
                    in_out_tile_avx2<D, 4>(xr, w, yr, n);
                    break;
                case 5:
                    in_out_tile_avx2<D, 5>(xr, w, yr, n);
                    break;
                default:
                    break;
            }
        }
        if (n16 < n1) in_out_scalar<D>(x, M, w, y, n16, n1);
        return;
    }
    // Decode (one to three rows) one row at a time, 64 columns per pass: each weight row is read
    // as whole cache lines, not 32 bytes from each (as 16-column blocks would).
    for (std::int64_t m = 0; m < M; ++m) {
        const float* xr = x + m * K;
        float* yr = y + m * N;
        std::int64_t c = n0;
        for (; c + 64 <= n1; c += 64) {
            // Named accumulators: GCC keeps an unrolled array of them in memory.
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
                   a7 = a0;
            for (std::int64_t k = 0; k < K; ++k) {
                const void* wr = row_ptr<D>(w, k);
                const __m256 xv = _mm256_broadcast_ss(xr + k);
                a0 = _mm256_fmadd_ps(xv, load8<D>(wr, c), a0);
                a1 = _mm256_fmadd_ps(xv, load8<D>(wr, c + 8), a1);
                a2 = _mm256_fmadd_ps(xv, load8<D>(wr, c + 16), a2);
                a3 = _mm256_fmadd_ps(xv, load8<D>(wr, c + 24), a3);
                a4 = _mm256_fmadd_ps(xv, load8<D>(wr, c + 32), a4);
                a5 = _mm256_fmadd_ps(xv, load8<D>(wr, c + 40), a5);
                a6 = _mm256_fmadd_ps(xv, load8<D>(wr, c + 48), a6);
                a7 = _mm256_fmadd_ps(xv, load8<D>(wr, c + 56), a7);
            }
            _mm256_storeu_ps(yr + c, a0);
            _mm256_storeu_ps(yr + c + 8, a1);
            _mm256_storeu_ps(yr + c + 16, a2);
            _mm256_storeu_ps(yr + c + 24, a3);
            _mm256_storeu_ps(yr + c + 32, a4);
            _mm256_storeu_ps(yr + c + 40, a5);
            _mm256_storeu_ps(yr + c + 48, a6);
            _mm256_storeu_ps(yr + c + 56, a7);
        }
        for (; c + 8 <= n1; c += 8) {
            __m256 a0 = _mm256_setzero_ps();
            for (std::int64_t k = 0; k < K; ++k)
                a0 =
                    _mm256_fmadd_ps(_mm256_broadcast_ss(xr + k), load8<D>(row_ptr<D>(w, k), c), a0);
            _mm256_storeu_ps(yr + c, a0);
        }
        if (c < n1) in_out_scalar<D>(xr, 1, w, yr, c, n1);
    }
}

// ---- AVX-512F: the same loops at 16 lanes ------------------------------------------------------

#define DP_AVX512 __attribute__((target("avx512f,avx2,fma,f16c")))
// GCC 12's AVX-512 intrinsic headers raise -Wmaybe-uninitialized inside themselves (their
// masked builtins take an undefined pass-through); the warning says nothing about our code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

template <DType D>
DP_AVX512 inline __m512 load16(const void* base, std::int64_t i) {
    if constexpr (D == DType::F32) {
        return _mm512_loadu_ps(static_cast<const float*>(base) + i);
    } else if constexpr (D == DType::BF16) {
        const __m256i h = _mm256_loadu_si256(
            reinterpret_cast<const __m256i*>(static_cast<const std::uint16_t*>(base) + i));
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    } else {
        const __m256i h = _mm256_loadu_si256(
            reinterpret_cast<const __m256i*>(static_cast<const std::uint16_t*>(base) + i));
        return _mm512_cvtph_ps(h);
    }
}

// Horizontal sum through memory: GCC 12's _mm512_reduce_add_ps trips -Wmaybe-uninitialized.
DP_AVX512 inline float hsum16(__m512 v) {
    alignas(64) float t[16];
    _mm512_store_ps(t, v);
    float s = 0.0f;
    for (float x : t) s += x;
    return s;
}

constexpr std::int64_t kRowsAhead = 4;

template <DType D>
DP_AVX512 void out_in_rows_avx512(const float* x, std::int64_t m0, std::int64_t M,
                                  const WeightView& w, float* y, std::int64_t n0, std::int64_t n1) {
    const std::int64_t K = w.cols, N = w.rows, K16 = K / 16 * 16;
    for (std::int64_t n = n0; n < n1; ++n) {
        const void* wr = row_ptr<D>(w, n);
        std::int64_t m = m0;
        for (; m + 4 <= M; m += 4) {
            const float* x0 = x + m * K;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (std::int64_t k = 0; k < K16; k += 16) {
                const __m512 wv = load16<D>(wr, k);
                a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x0 + k), wv, a0);
                a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x0 + K + k), wv, a1);
                a2 = _mm512_fmadd_ps(_mm512_loadu_ps(x0 + 2 * K + k), wv, a2);
                a3 = _mm512_fmadd_ps(_mm512_loadu_ps(x0 + 3 * K + k), wv, a3);
            }
            float s[4] = {hsum16(a0), hsum16(a1), hsum16(a2), hsum16(a3)};
            for (std::int64_t k = K16; k < K; ++k) {
                const float wv = load1<D>(wr, k);
                for (int r = 0; r < 4; ++r) s[r] += x0[r * K + k] * wv;
            }
            for (int r = 0; r < 4; ++r) y[(m + r) * N + n] = s[r];
        }
        // Decode (one row): the row kRowsAhead rows on is asked for line by line as this one
        // streams, so the next rows' weights are in flight (the hardware prefetchers alone
        // left the attention and lm_head GEMVs well below the machine's bandwidth).
        const char* ahead = M - m0 == 1 && n + kRowsAhead < N
                                ? static_cast<const char*>(row_ptr<D>(w, n + kRowsAhead))
                                : nullptr;
        for (; m < M; ++m) {
            const float* xr = x + m * K;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0;
            std::int64_t k = 0;
            for (; k + 32 <= K16; k += 32) {
                if (ahead) {
                    _mm_prefetch(ahead + k * std::int64_t(dtype_size(D)), _MM_HINT_T0);
                    if constexpr (dtype_size(D) == 4) _mm_prefetch(ahead + k * 4 + 64, _MM_HINT_T0);
                }
                a0 = _mm512_fmadd_ps(_mm512_loadu_ps(xr + k), load16<D>(wr, k), a0);
                a1 = _mm512_fmadd_ps(_mm512_loadu_ps(xr + k + 16), load16<D>(wr, k + 16), a1);
            }
            for (; k < K16; k += 16)
                a0 = _mm512_fmadd_ps(_mm512_loadu_ps(xr + k), load16<D>(wr, k), a0);
            float s = hsum16(_mm512_add_ps(a0, a1));
            for (; k < K; ++k) s += xr[k] * load1<D>(wr, k);
            y[m * N + n] = s;
        }
    }
}

// Four activation rows by four weight rows: each of the four converted weight vectors feeds four
// FMAs and each activation vector four (prefill); the rest through the loops above.
template <DType D>
DP_AVX512 void out_in_avx512(const float* x, std::int64_t M, const WeightView& w, float* y,
                             std::int64_t n0, std::int64_t n1) {
    const std::int64_t K = w.cols, N = w.rows, K16 = K / 16 * 16, M4 = M / 4 * 4,
                       n4 = M4 > 0 ? n0 + (n1 - n0) / 4 * 4 : n0;
    // Activation rows in chunks that stay in L2 (64 rows of up to 2048 floats) while every
    // weight row of the range passes; without the chunks a long prompt's activations would be
    // streamed from memory once per four weight rows.
    const std::int64_t chunk =
        std::max<std::int64_t>(4, (64 * 2048 / std::max<std::int64_t>(1, K)) / 4 * 4);
    for (std::int64_t mc = 0; mc < M4; mc += chunk)
        for (std::int64_t n = n0; n < n4; n += 4) {
            const void* wr[4] = {row_ptr<D>(w, n), row_ptr<D>(w, n + 1), row_ptr<D>(w, n + 2),
                                 row_ptr<D>(w, n + 3)};
            for (std::int64_t m = mc; m < std::min(M4, mc + chunk); m += 4) {
                const float* xm = x + m * K;
                __m512 a[4][4];
#pragma GCC unroll 4
                for (int r = 0; r < 4; ++r)
#pragma GCC unroll 4
                    for (int j = 0; j < 4; ++j) a[r][j] = _mm512_setzero_ps();
                for (std::int64_t k = 0; k < K16; k += 16) {
                    const __m512 w0 = load16<D>(wr[0], k), w1 = load16<D>(wr[1], k),
                                 w2 = load16<D>(wr[2], k), w3 = load16<D>(wr[3], k);
#pragma GCC unroll 4
                    for (int r = 0; r < 4; ++r) {
                        const __m512 xv = _mm512_loadu_ps(xm + r * K + k);
                        a[r][0] = _mm512_fmadd_ps(xv, w0, a[r][0]);
                        a[r][1] = _mm512_fmadd_ps(xv, w1, a[r][1]);
                        a[r][2] = _mm512_fmadd_ps(xv, w2, a[r][2]);
                        a[r][3] = _mm512_fmadd_ps(xv, w3, a[r][3]);
                    }
                }
                for (int r = 0; r < 4; ++r)
                    for (int j = 0; j < 4; ++j) {
                        float s = hsum16(a[r][j]);
                        for (std::int64_t k = K16; k < K; ++k)
                            s += xm[r * K + k] * load1<D>(wr[j], k);
                        y[(m + r) * N + n + j] = s;
                    }
            }
        }
    out_in_rows_avx512<D>(x, 0, M4, w, y, n4, n1);  // columns the tiles left, their rows
    out_in_rows_avx512<D>(x, M4, M, w, y, n0, n1);  // the last rows (decode: all of them)
}

// R activation rows (x, y at the first) by 32 columns from n: each pair of weight vectors,
// converted once, feeds 2R FMAs. Unrolled so the tile stays in registers.
template <DType D, int R>
DP_AVX512 inline void in_out_tile_avx512(const float* x, const WeightView& w, float* y,
                                         std::int64_t n) {
    const std::int64_t K = w.rows, N = w.cols;
    __m512 a[R][2];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) a[r][0] = a[r][1] = _mm512_setzero_ps();
    for (std::int64_t k = 0; k < K; ++k) {
        const void* wr = row_ptr<D>(w, k);
        const __m512 w0 = load16<D>(wr, n), w1 = load16<D>(wr, n + 16);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
            const __m512 xv = _mm512_set1_ps(x[r * K + k]);
            a[r][0] = _mm512_fmadd_ps(xv, w0, a[r][0]);
            a[r][1] = _mm512_fmadd_ps(xv, w1, a[r][1]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
        _mm512_storeu_ps(y + r * N + n, a[r][0]);
        _mm512_storeu_ps(y + r * N + n + 16, a[r][1]);
    }
}

template <DType D>
DP_AVX512 void in_out_gemv_avx512(const float* xr, const WeightView& w, float* yr, std::int64_t n0,
                                  std::int64_t n1);

template <DType D>
DP_AVX512 void in_out_avx512(const float* x, std::int64_t M, const WeightView& w, float* y,
                             std::int64_t n0, std::int64_t n1) {
    const std::int64_t K = w.rows, N = w.cols;
    // Prefill (each expert sees several tokens): tiles of eight rows by 32 columns, the last
    // rows in one tile of their own height. Columns outermost: one 32-column slab of W
    // (K x 64 bytes) stays in L2 while every row block passes.
    const std::int64_t M8 = M / 8 * 8, rest = M - M8, n32 = n0 + (n1 - n0) / 32 * 32;
    if (M >= 4) {
        for (std::int64_t n = n0; n < n32; n += 32) {
            for (std::int64_t m = 0; m < M8; m += 8)
                in_out_tile_avx512<D, 8>(x + m * K, w, y + m * N, n);
            const float* xr = x + M8 * K;
            float* yr = y + M8 * N;
            switch (rest) {
                case 1:
                    in_out_tile_avx512<D, 1>(xr, w, yr, n);
                    break;
                case 2:
                    in_out_tile_avx512<D, 2>(xr, w, yr, n);
                    break;
                case 3:
                    in_out_tile_avx512<D, 3>(xr, w, yr, n);
                    break;
                case 4:
                    in_out_tile_avx512<D, 4>(xr, w, yr, n);
                    break;
                case 5:
                    in_out_tile_avx512<D, 5>(xr, w, yr, n);
                    break;
                case 6:
                    in_out_tile_avx512<D, 6>(xr, w, yr, n);
                    break;
                case 7:
                    in_out_tile_avx512<D, 7>(xr, w, yr, n);
                    break;
                default:
                    break;
            }
        }
        if (n32 < n1) in_out_scalar<D>(x, M, w, y, n32, n1);  // only the last unit has a tail
        return;
    }
    if (M == 1 && n1 - n0 >= 256) return in_out_gemv_avx512<D>(x, w, y, n0, n1);
    // Decode (one to three rows) one row at a time, 128 (or 64) columns per pass: each weight
    // row is read as whole cache lines, not 32 bytes from each (the column loop above),
    // which left the expert GEMVs at a third of the weight bandwidth of the out_in ones.
    for (std::int64_t m = 0; m < M; ++m) {
        const float* xr = x + m * K;
        float* yr = y + m * N;
        std::int64_t c = n0;
        for (; c + 128 <= n1; c += 128) {
            // Named accumulators: GCC keeps an unrolled array of them in memory.
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
                   a7 = a0;
            for (std::int64_t k = 0; k < K; ++k) {
                const void* wr = row_ptr<D>(w, k);
                const __m512 xv = _mm512_set1_ps(xr[k]);
                a0 = _mm512_fmadd_ps(xv, load16<D>(wr, c), a0);
                a1 = _mm512_fmadd_ps(xv, load16<D>(wr, c + 16), a1);
                a2 = _mm512_fmadd_ps(xv, load16<D>(wr, c + 32), a2);
                a3 = _mm512_fmadd_ps(xv, load16<D>(wr, c + 48), a3);
                a4 = _mm512_fmadd_ps(xv, load16<D>(wr, c + 64), a4);
                a5 = _mm512_fmadd_ps(xv, load16<D>(wr, c + 80), a5);
                a6 = _mm512_fmadd_ps(xv, load16<D>(wr, c + 96), a6);
                a7 = _mm512_fmadd_ps(xv, load16<D>(wr, c + 112), a7);
            }
            _mm512_storeu_ps(yr + c, a0);
            _mm512_storeu_ps(yr + c + 16, a1);
            _mm512_storeu_ps(yr + c + 32, a2);
            _mm512_storeu_ps(yr + c + 48, a3);
            _mm512_storeu_ps(yr + c + 64, a4);
            _mm512_storeu_ps(yr + c + 80, a5);
            _mm512_storeu_ps(yr + c + 96, a6);
            _mm512_storeu_ps(yr + c + 112, a7);
        }
        for (; c + 64 <= n1; c += 64) {
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (std::int64_t k = 0; k < K; ++k) {
                const void* wr = row_ptr<D>(w, k);
                const __m512 xv = _mm512_set1_ps(xr[k]);
                a0 = _mm512_fmadd_ps(xv, load16<D>(wr, c), a0);
                a1 = _mm512_fmadd_ps(xv, load16<D>(wr, c + 16), a1);
                a2 = _mm512_fmadd_ps(xv, load16<D>(wr, c + 32), a2);
                a3 = _mm512_fmadd_ps(xv, load16<D>(wr, c + 48), a3);
            }
            _mm512_storeu_ps(yr + c, a0);
            _mm512_storeu_ps(yr + c + 16, a1);
            _mm512_storeu_ps(yr + c + 32, a2);
            _mm512_storeu_ps(yr + c + 48, a3);
        }
        for (; c + 16 <= n1; c += 16) {
            __m512 a0 = _mm512_setzero_ps();
            for (std::int64_t k = 0; k < K; ++k)
                a0 = _mm512_fmadd_ps(_mm512_set1_ps(xr[k]), load16<D>(row_ptr<D>(w, k), c), a0);
            _mm512_storeu_ps(yr + c, a0);
        }
        if (c < n1) in_out_scalar<D>(xr, 1, w, yr, c, n1);
    }
}

// One row (decode) over a wide column range: blocks of kGemvRows weight rows outermost, each
// 128-column group summing the block's rows in registers into y, while the next block's rows
// are prefetched whole, a few lines per row step. Each expert's weights come from memory every
// token; long contiguous runs (a whole row of the range, not 256 bytes of each row per pass)
// stream fastest, and the prefetches keep them in flight under the arithmetic.
constexpr std::int64_t kGemvRows = 32;

template <DType D>
DP_AVX512 void in_out_gemv_avx512(const float* xr, const WeightView& w, float* yr, std::int64_t n0,
                                  std::int64_t n1) {
    const std::int64_t K = w.rows, c128 = n0 + (n1 - n0) / 128 * 128, es = dtype_size(D);
    const std::int64_t run = (c128 - n0) * es, groups = (c128 - n0) / 128;
    for (std::int64_t k0 = 0; k0 < K; k0 += kGemvRows) {
        const std::int64_t k1 = std::min(K, k0 + kGemvRows), pk1 = std::min(K, k1 + kGemvRows);
        // The next block's lines, in row order, split evenly over the groups' row steps.
        const std::int64_t lines = (pk1 - k1) * ((run + 63) / 64);
        const std::int64_t per_step =
            (lines + groups * (k1 - k0) - 1) / std::max<std::int64_t>(1, groups * (k1 - k0));
        std::int64_t next = 0;
        const std::int64_t line_row = (run + 63) / 64;
        for (std::int64_t c = n0; c < c128; c += 128) {
            __m512 a0, a1, a2, a3, a4, a5, a6, a7;
            if (k0 == 0) {
                a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = _mm512_setzero_ps();
            } else {
                a0 = _mm512_loadu_ps(yr + c), a1 = _mm512_loadu_ps(yr + c + 16);
                a2 = _mm512_loadu_ps(yr + c + 32), a3 = _mm512_loadu_ps(yr + c + 48);
                a4 = _mm512_loadu_ps(yr + c + 64), a5 = _mm512_loadu_ps(yr + c + 80);
                a6 = _mm512_loadu_ps(yr + c + 96), a7 = _mm512_loadu_ps(yr + c + 112);
            }
            for (std::int64_t k = k0; k < k1; ++k) {
                for (std::int64_t i = 0; i < per_step && next < lines; ++i, ++next)
                    _mm_prefetch(static_cast<const char*>(row_ptr<D>(w, k1 + next / line_row)) +
                                     n0 * es + next % line_row * 64,
                                 _MM_HINT_T0);
                const void* wr = row_ptr<D>(w, k);
                const __m512 xv = _mm512_set1_ps(xr[k]);
                a0 = _mm512_fmadd_ps(xv, load16<D>(wr, c), a0);
                a1 = _mm512_fmadd_ps(xv, load16<D>(wr, c + 16), a1);
                a2 = _mm512_fmadd_ps(xv, load16<D>(wr, c + 32), a2);
                a3 = _mm512_fmadd_ps(xv, load16<D>(wr, c + 48), a3);
                a4 = _mm512_fmadd_ps(xv, load16<D>(wr, c + 64), a4);
                a5 = _mm512_fmadd_ps(xv, load16<D>(wr, c + 80), a5);
                a6 = _mm512_fmadd_ps(xv, load16<D>(wr, c + 96), a6);
                a7 = _mm512_fmadd_ps(xv, load16<D>(wr, c + 112), a7);
            }
            _mm512_storeu_ps(yr + c, a0);
            _mm512_storeu_ps(yr + c + 16, a1);
            _mm512_storeu_ps(yr + c + 32, a2);
            _mm512_storeu_ps(yr + c + 48, a3);
            _mm512_storeu_ps(yr + c + 64, a4);
            _mm512_storeu_ps(yr + c + 80, a5);
            _mm512_storeu_ps(yr + c + 96, a6);
            _mm512_storeu_ps(yr + c + 112, a7);
        }
    }
    if (c128 < n1) in_out_avx512<D>(xr, 1, w, yr, c128, n1);
}

#pragma GCC diagnostic pop

bool cpu_has_avx512() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
           __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

bool cpu_has_avx2() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
}

template <DType D>
void run(const float* x, std::int64_t M, const WeightView& w, float* y, ThreadPool& pool, Isa isa) {
    const std::int64_t N = w.out_features(), K = w.in_features();
    const bool out_in = w.layout == Layout::out_in;
    // Rows [0, rows) of x and y from xs, ys; output columns [c0, c1).
    auto kernel = [&](const float* xs, std::int64_t rows, float* ys, std::int64_t c0,
                      std::int64_t c1) {
        if (out_in) {
            if (isa >= Isa::avx512)  // avx512bf16 here: the f32-activation kernels
                out_in_avx512<D>(xs, rows, w, ys, c0, c1);
            else if (isa == Isa::avx2)
                out_in_avx2<D>(xs, rows, w, ys, c0, c1);
            else
                out_in_scalar<D>(xs, rows, w, ys, c0, c1);
        } else {
            if (isa >= Isa::avx512)
                in_out_avx512<D>(xs, rows, w, ys, c0, c1);
            else if (isa == Isa::avx2)
                in_out_avx2<D>(xs, rows, w, ys, c0, c1);
            else
                in_out_scalar<D>(xs, rows, w, ys, c0, c1);
        }
    };
    // A long prompt's GEMM takes seconds; the pool's usual chunks (a quarter of a thread's
    // share of the columns, every row) would then take a second each, and a stop (StopScope)
    // is only seen between chunks. Such GEMMs run as tiles of at most ~kStopTileMacs
    // multiply-adds (a few ms): 64-column slabs by row blocks of a multiple of 24 rows, so every
    // kernel's row tiles (4, 6, 8) and column tiles (4 to 64) fall as they would untiled, and
    // the last block takes the leftover rows.
    const std::int64_t threads = pool.size(), slabs = (N + 63) / 64;
    const std::int64_t share = (slabs + 4 * threads - 1) / (4 * threads) * 64;
    if (M >= 4 && M * K * share > kStopTileMacs) {
        std::int64_t rb = std::max<std::int64_t>(24, kStopTileMacs / (64 * K) / 24 * 24), cw = 64;
        if (rb >= M) {  // all rows in one block: wider slabs instead
            rb = M;
            cw = std::max<std::int64_t>(64, kStopTileMacs / (M * K) / 64 * 64);
        }
        const std::int64_t row_blocks = std::max<std::int64_t>(1, M / rb),
                           col_blocks = (N + cw - 1) / cw;
        // Neighbouring tiles share a slab of W, so the threads working at once read the same
        // weights.
        pool.parallel_for(
            row_blocks * col_blocks, 1,
            [&](std::int64_t a, std::int64_t b) {
                for (std::int64_t t = a; t < b; ++t) {
                    const std::int64_t rbi = t % row_blocks, c0 = t / row_blocks * cw;
                    const std::int64_t m0 = rbi * rb, m1 = rbi + 1 == row_blocks ? M : m0 + rb;
                    kernel(x + m0 * K, m1 - m0, y + m0 * N, c0, std::min(N, c0 + cw));
                }
            },
            /*max_chunk=*/1);
        return;
    }
    if (out_in) {
        // Enough rows per chunk that a chunk is worth a wake-up (~16k multiply-adds).
        const std::int64_t grain =
            std::max<std::int64_t>(1, 16384 / std::max<std::int64_t>(1, K * M));
        pool.parallel_for(N, grain, [&](std::int64_t a, std::int64_t b) { kernel(x, M, y, a, b); });
    } else {
        // Work in units of 64 columns so no SIMD path ever splits a block and the single-row
        // kernels read whole cache lines; only the last unit has tails.
        std::int64_t grain = std::max<std::int64_t>(1, 4096 / std::max<std::int64_t>(1, K * M));
        if (M == 1 && isa >= Isa::avx512) {
            // One wide range per thread (two each when several), in whole 128-column groups:
            // in_out_gemv_avx512 streams whole runs of each weight row.
            const std::int64_t parts = threads == 1 ? 1 : 2 * threads;
            grain = std::max(grain, (slabs + parts - 1) / parts / 2 * 2);
        }
        pool.parallel_for(slabs, grain, [&](std::int64_t a, std::int64_t b) {
            kernel(x, M, y, a * 64, std::min(N, b * 64));
        });
    }
}

}  // namespace

Isa best_isa() {
    // DESKPILOT_ISA=scalar|avx2|avx512 and DESKPILOT_BF16_ACTIVATIONS=0 cap the choice (for
    // comparisons); the CPU decides the rest.
    static const Isa isa = [] {
        Isa best = isa_supported(Isa::avx512bf16) ? Isa::avx512bf16
                   : cpu_has_avx512()             ? Isa::avx512
                   : cpu_has_avx2()               ? Isa::avx2
                                                  : Isa::scalar;
        if (const char* cap = std::getenv("DESKPILOT_ISA")) {
            if (std::strcmp(cap, "scalar") == 0)
                best = Isa::scalar;
            else if (std::strcmp(cap, "avx2") == 0)
                best = std::min(best, Isa::avx2);
            else if (std::strcmp(cap, "avx512") == 0)
                best = std::min(best, Isa::avx512);
        }
        if (const char* bf16 = std::getenv("DESKPILOT_BF16_ACTIVATIONS");
            bf16 && std::strcmp(bf16, "0") == 0)
            best = std::min(best, Isa::avx512);
        return best;
    }();
    return isa;
}

bool isa_supported(Isa isa) {
    switch (isa) {
        case Isa::scalar:
            return true;
        case Isa::avx2:
            return cpu_has_avx2();
        case Isa::avx512:
            return cpu_has_avx512();
        case Isa::avx512bf16:
            return cpu_has_avx512() && cpu_has_avx512_bf16();
    }
    return false;
}

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::scalar:
            return "scalar";
        case Isa::avx2:
            return "avx2+fma";
        case Isa::avx512:
            return "avx512f";
        case Isa::avx512bf16:
            return "avx512f+bf16";
    }
    return "?";
}

void linear(const float* x, std::int64_t M, const WeightView& w, float* y, ThreadPool& pool,
            Isa isa) {
    if (!isa_supported(isa))
        throw std::runtime_error(std::string("linear: this CPU cannot run the ") + isa_name(isa) +
                                 " kernels");
    if (M <= 0 || w.out_features() <= 0) return;
    if (isa == Isa::avx512bf16 && w.dtype == DType::BF16 && M >= kBf16MinRows)
        return linear_bf16_activations(x, M, w, y, pool, true);
    switch (w.dtype) {
        case DType::F32:
            return run<DType::F32>(x, M, w, y, pool, isa);
        case DType::BF16:
            return run<DType::BF16>(x, M, w, y, pool, isa);
        case DType::F16:
            return run<DType::F16>(x, M, w, y, pool, isa);
    }
}

}  // namespace deskpilot::model::engine::cpu
