#include "model/engine/cpu/gemm_bf16.h"

#include <immintrin.h>

#include <algorithm>
#include <new>
#include <stdexcept>
#include <vector>

namespace deskpilot::model::engine::cpu {

namespace {

// Activations as bf16 rows of stride Kp: K rounded up to 32 and zero-filled, so full-width loads
// past K (out_in) and the last k pair (in_out) read zeros.
std::int64_t padded(std::int64_t K) {
    return (K + 31) / 32 * 32;
}

std::uint16_t* activation_buffer(std::size_t n) {
    thread_local std::vector<std::uint16_t> buf;
    if (buf.size() < n) buf.resize(n);
    return buf.data();
}

const std::uint16_t* wrow(const WeightView& w, std::int64_t r) {
    return static_cast<const std::uint16_t*>(w.data) + r * w.ld;
}

// ---- scalar twin ------------------------------------------------------------------------------

void convert_scalar(const float* x, std::int64_t K, std::int64_t Kp, std::uint16_t* xb) {
    for (std::int64_t k = 0; k < K; ++k) xb[k] = f32_to_bf16(x[k]);
    for (std::int64_t k = K; k < Kp; ++k) xb[k] = 0;
}

void twin(const std::uint16_t* xb, std::int64_t Kp, std::int64_t M, const WeightView& w, float* y) {
    const std::int64_t K = w.in_features(), N = w.out_features();
    for (std::int64_t m = 0; m < M; ++m)
        for (std::int64_t n = 0; n < N; ++n) {
            float acc = 0.0f;
            for (std::int64_t k = 0; k < K; ++k) {
                const std::uint16_t wv = w.layout == Layout::out_in ? wrow(w, n)[k] : wrow(w, k)[n];
                acc += bf16_to_f32(xb[m * Kp + k]) * bf16_to_f32(wv);
            }
            y[m * N + n] = acc;
        }
}

// ---- AVX512_BF16 --------------------------------------------------------------------------------

#define DP_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma")))
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

DP_BF16 inline __m512 dp(__m512 acc, __m512i a, __m512i b) {
    return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
}

// f32_to_bf16 sixteen at a time: round to nearest even, NaN kept quiet.
DP_BF16 void convert_avx512(const float* x, std::int64_t K, std::int64_t Kp, std::uint16_t* xb) {
    const __m512i one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7fff),
                  abs = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000),
                  quiet = _mm512_set1_epi32(0x400000);
    std::int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        const __m512i u = _mm512_castps_si512(_mm512_loadu_ps(x + k));
        const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), one);
        __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(bias, lsb));
        const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, abs), inf);
        r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(u, quiet));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(xb + k),
                            _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16)));
    }
    for (; k < K; ++k) xb[k] = f32_to_bf16(x[k]);
    for (; k < Kp; ++k) xb[k] = 0;
}

DP_BF16 inline float hsum16(__m512 v) {
    alignas(64) float t[16];
    _mm512_store_ps(t, v);
    float s = 0.0f;
    for (float f : t) s += f;
    return s;
}

DP_BF16 inline __m256 fold(__m512 v) {
    return _mm256_add_ps(_mm512_castps512_ps256(v),
                         _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

// The four lane sums of a, b, c, d, in that order.
DP_BF16 inline __m128 hsum4(__m512 a, __m512 b, __m512 c, __m512 d) {
    const __m256 h =
        _mm256_hadd_ps(_mm256_hadd_ps(fold(a), fold(b)), _mm256_hadd_ps(fold(c), fold(d)));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// out_in (W [N, K], rows along k): R (<= 4) activation rows by four weight rows, 32 k per step;
// each weight vector feeds R vdpbf16ps and each activation vector four. The last step masks the
// weight loads (the activations are zero-padded). Named accumulators: GCC keeps an unrolled
// array of them in memory.
#define DP_ROW4(r)                                              \
    if constexpr (R > r) {                                      \
        const __m512i xv = _mm512_loadu_si512(xb + r * Kp + k); \
        a##r##0 = dp(a##r##0, xv, w0);                          \
        a##r##1 = dp(a##r##1, xv, w1);                          \
        a##r##2 = dp(a##r##2, xv, w2);                          \
        a##r##3 = dp(a##r##3, xv, w3);                          \
    }
#define DP_STORE4(r) \
    if constexpr (R > r) _mm_storeu_ps(y + r * N + n, hsum4(a##r##0, a##r##1, a##r##2, a##r##3));
template <int R>
DP_BF16 void out_in_tile4(const std::uint16_t* xb, std::int64_t Kp, const WeightView& w,
                          std::int64_t n, float* y, std::int64_t N) {
    const std::int64_t K = w.cols, K32 = K / 32 * 32;
    const std::uint16_t *p0 = wrow(w, n), *p1 = wrow(w, n + 1), *p2 = wrow(w, n + 2),
                        *p3 = wrow(w, n + 3);
    __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00,
           a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00,
           a32 = a00, a33 = a00;
    for (std::int64_t k = 0; k < K; k += 32) {
        const __mmask32 mask = k < K32 ? ~__mmask32(0) : __mmask32((1ull << (K - K32)) - 1);
        const __m512i w0 = _mm512_maskz_loadu_epi16(mask, p0 + k),
                      w1 = _mm512_maskz_loadu_epi16(mask, p1 + k),
                      w2 = _mm512_maskz_loadu_epi16(mask, p2 + k),
                      w3 = _mm512_maskz_loadu_epi16(mask, p3 + k);
        DP_ROW4(0)
        DP_ROW4(1)
        DP_ROW4(2)
        DP_ROW4(3)
    }
    DP_STORE4(0)
    DP_STORE4(1)
    DP_STORE4(2)
    DP_STORE4(3)
}

// The same for one weight row (the last rows of a range).
template <int R>
DP_BF16 void out_in_tile1(const std::uint16_t* xb, std::int64_t Kp, const WeightView& w,
                          std::int64_t n, float* y, std::int64_t N) {
    const std::int64_t K = w.cols, K32 = K / 32 * 32;
    const std::uint16_t* p0 = wrow(w, n);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (std::int64_t k = 0; k < K; k += 32) {
        const __mmask32 mask = k < K32 ? ~__mmask32(0) : __mmask32((1ull << (K - K32)) - 1);
        const __m512i w0 = _mm512_maskz_loadu_epi16(mask, p0 + k);
        a0 = dp(a0, _mm512_loadu_si512(xb + k), w0);
        if constexpr (R > 1) a1 = dp(a1, _mm512_loadu_si512(xb + Kp + k), w0);
        if constexpr (R > 2) a2 = dp(a2, _mm512_loadu_si512(xb + 2 * Kp + k), w0);
        if constexpr (R > 3) a3 = dp(a3, _mm512_loadu_si512(xb + 3 * Kp + k), w0);
    }
    y[n] = hsum16(a0);
    if constexpr (R > 1) y[N + n] = hsum16(a1);
    if constexpr (R > 2) y[2 * N + n] = hsum16(a2);
    if constexpr (R > 3) y[3 * N + n] = hsum16(a3);
}

template <int R>
DP_BF16 void out_in_rows(const std::uint16_t* xb, std::int64_t Kp, const WeightView& w,
                         std::int64_t n0, std::int64_t n1, float* y, std::int64_t N) {
    std::int64_t n = n0;
    for (; n + 4 <= n1; n += 4) out_in_tile4<R>(xb, Kp, w, n, y, N);
    for (; n < n1; ++n) out_in_tile1<R>(xb, Kp, w, n, y, N);
}

DP_BF16 void out_in_bf16(const std::uint16_t* xb, std::int64_t Kp, std::int64_t M,
                         const WeightView& w, float* y, std::int64_t n0, std::int64_t n1) {
    const std::int64_t N = w.rows;
    // Activation rows in chunks that stay in L2 (256 KiB of bf16) while the weight rows pass.
    const std::int64_t chunk = std::max<std::int64_t>(4, 131072 / Kp / 4 * 4);
    for (std::int64_t mc = 0; mc < M; mc += chunk) {
        const std::int64_t me = std::min(M, mc + chunk);
        std::int64_t m = mc;
        for (; m + 4 <= me; m += 4) out_in_rows<4>(xb + m * Kp, Kp, w, n0, n1, y + m * N, N);
        const std::uint16_t* xr = xb + m * Kp;
        float* yr = y + m * N;
        switch (me - m) {
            case 1:
                out_in_rows<1>(xr, Kp, w, n0, n1, yr, N);
                break;
            case 2:
                out_in_rows<2>(xr, Kp, w, n0, n1, yr, N);
                break;
            case 3:
                out_in_rows<3>(xr, Kp, w, n0, n1, yr, N);
                break;
            default:
                break;
        }
    }
}

constexpr int kInOutRows = 12;  // 24 accumulators, two weight vectors and a broadcast

// in_out activations as pairs: block b of kInOutRows rows holds, for each k pair, the pairs of
// its rows side by side (rows past M zero), so a tile broadcasts every row's pair from one
// pointer at constant offsets.
void pair_rows(const std::uint16_t* xb, std::int64_t Kp, std::int64_t M, std::uint32_t* xt) {
    const std::int64_t pairs = Kp / 2;
    for (std::int64_t b = 0; b * kInOutRows < M; ++b) {
        std::uint32_t* t = xt + b * pairs * kInOutRows;
        for (int r = 0; r < kInOutRows; ++r) {
            const std::int64_t m = b * kInOutRows + r;
            const std::uint16_t* row = xb + m * Kp;
            for (std::int64_t i = 0; i < pairs; ++i)
                t[i * kInOutRows + r] =
                    m < M ? std::uint32_t(row[2 * i]) | std::uint32_t(row[2 * i + 1]) << 16 : 0u;
        }
    }
}

// in_out (W [K, N], rows along n) runs on weights repacked per block of kBlock rows: for each
// 32-column strip and k pair, one 128-byte record holding columns 0-15 then 16-31 of rows k and
// k+1 interleaved (the pairs vdpbf16ps multiplies with a broadcast activation pair), in column
// order. The repack reads the block row by row (long contiguous runs the prefetchers follow, also
// when the expert comes from memory) into a buffer that stays in L2, and every row tile then
// reads its strip's records from L1 with no unpacking; the sums are in column order, so a tile
// continues them from y with plain loads.
constexpr std::int64_t kBlock = 128;     // even: k pairs never straddle two blocks
constexpr std::int64_t kPackCols = 256;  // columns repacked at a time: 64 KiB of records

DP_BF16 void pack_block(const WeightView& w, std::int64_t k0, std::int64_t k1, std::int64_t n0,
                        std::int64_t n1, std::uint16_t* buf) {
    const std::int64_t pairs = (k1 - k0 + 1) / 2, width = n1 - n0;
    // vpermt2w indices: word 2i of the record is column i of a (row k), 2i+1 that of b (k+1).
    static constexpr std::uint16_t order[32] = {0,  32, 1,  33, 2,  34, 3,  35, 4,  36, 5,
                                                37, 6,  38, 7,  39, 8,  40, 9,  41, 10, 42,
                                                11, 43, 12, 44, 13, 45, 14, 46, 15, 47};
    const __m512i lo = _mm512_loadu_si512(order), hi = _mm512_add_epi16(lo, _mm512_set1_epi16(16));
    for (std::int64_t p = 0; p < pairs; ++p) {
        const std::int64_t k = k0 + 2 * p;
        const std::uint16_t* r0 = wrow(w, k) + n0;
        const std::uint16_t* r1 = k + 1 < k1 ? wrow(w, k + 1) + n0 : nullptr;
        for (std::int64_t s = 0; s * 32 < width; ++s) {
            const std::int64_t c = std::min<std::int64_t>(32, width - s * 32);
            const __mmask32 m = c == 32 ? ~__mmask32(0) : __mmask32((1u << c) - 1);
            const __m512i a = _mm512_maskz_loadu_epi16(m, r0 + s * 32),
                          b = r1 ? _mm512_maskz_loadu_epi16(m, r1 + s * 32)
                                 : _mm512_setzero_si512();
            std::uint16_t* rec = buf + (s * pairs + p) * 64;
            _mm512_store_si512(rec, _mm512_permutex2var_epi16(a, lo, b));
            _mm512_store_si512(rec + 32, _mm512_permutex2var_epi16(a, hi, b));
        }
    }
}

// The cache lines of the next block, asked for one per k pair of the tiles so the memory
// traffic spreads over the arithmetic (a burst of them only stalls on the miss buffers).
struct Prefetch {
    const char* const* next;
    const char* const* end;
};

#define DP_PAIR(r)                                        \
    if constexpr (R > r) {                                \
        const __m512i xv = _mm512_set1_epi32(int(xp[r])); \
        lo##r = dp(lo##r, wl, xv);                        \
        hi##r = dp(hi##r, wh, xv);                        \
    }
#define DP_PAIRS \
    DP_PAIR(0)   \
    DP_PAIR(1)   \
    DP_PAIR(2)   \
    DP_PAIR(3)   \
    DP_PAIR(4) DP_PAIR(5) DP_PAIR(6) DP_PAIR(7) DP_PAIR(8) DP_PAIR(9) DP_PAIR(10) DP_PAIR(11)
#define DP_STORE_PAIR(r)                                  \
    if constexpr (R > r) {                                \
        _mm512_mask_storeu_ps(y + r * N, c0, lo##r);      \
        _mm512_mask_storeu_ps(y + r * N + 16, c1, hi##r); \
    }
#define DP_LOAD_PAIR(r)                                    \
    if constexpr (R > r) {                                 \
        lo##r = _mm512_maskz_loadu_ps(c0, y + r * N);      \
        hi##r = _mm512_maskz_loadu_ps(c1, y + r * N + 16); \
    }
// R activation rows (pairs in xp, kInOutRows apart) by one strip of records.
template <int R>
DP_BF16 void in_out_tile(const std::uint32_t* xp, const std::uint16_t* rec, std::int64_t pairs,
                         __mmask32 cols, float* y, std::int64_t N, bool first, Prefetch& pf) {
    __m512 lo0 = _mm512_setzero_ps(), lo1 = lo0, lo2 = lo0, lo3 = lo0, lo4 = lo0, lo5 = lo0,
           lo6 = lo0, lo7 = lo0, lo8 = lo0, lo9 = lo0, lo10 = lo0, lo11 = lo0;
    __m512 hi0 = lo0, hi1 = lo0, hi2 = lo0, hi3 = lo0, hi4 = lo0, hi5 = lo0, hi6 = lo0, hi7 = lo0,
           hi8 = lo0, hi9 = lo0, hi10 = lo0, hi11 = lo0;
    const __mmask16 c0 = __mmask16(cols), c1 = __mmask16(cols >> 16);
    if (!first) {  // continue the sums of the earlier k blocks
        DP_LOAD_PAIR(0)
        DP_LOAD_PAIR(1)
        DP_LOAD_PAIR(2)
        DP_LOAD_PAIR(3)
        DP_LOAD_PAIR(4)
        DP_LOAD_PAIR(5)
        DP_LOAD_PAIR(6)
        DP_LOAD_PAIR(7)
        DP_LOAD_PAIR(8)
        DP_LOAD_PAIR(9)
        DP_LOAD_PAIR(10)
        DP_LOAD_PAIR(11)
    }
    const char* const* line = pf.next;
    const std::int64_t lines = std::min<std::int64_t>(pairs, pf.end - pf.next);
    for (std::int64_t p = 0; p < pairs; ++p, rec += 64, xp += kInOutRows) {
        if (p < lines) _mm_prefetch(line[p], _MM_HINT_T0);
        const __m512i wl = _mm512_load_si512(rec), wh = _mm512_load_si512(rec + 32);
        DP_PAIRS
    }
    pf.next += lines;
    DP_STORE_PAIR(0)
    DP_STORE_PAIR(1)
    DP_STORE_PAIR(2)
    DP_STORE_PAIR(3)
    DP_STORE_PAIR(4)
    DP_STORE_PAIR(5)
    DP_STORE_PAIR(6)
    DP_STORE_PAIR(7)
    DP_STORE_PAIR(8)
    DP_STORE_PAIR(9)
    DP_STORE_PAIR(10)
    DP_STORE_PAIR(11)
}

template <int R>
DP_BF16 void in_out_rest(int rest, const std::uint32_t* xp, const std::uint16_t* rec,
                         std::int64_t pairs, __mmask32 cols, float* y, std::int64_t N, bool first,
                         Prefetch& pf) {
    if constexpr (R > 0) {
        if (rest == R) return in_out_tile<R>(xp, rec, pairs, cols, y, N, first, pf);
        in_out_rest<R - 1>(rest, xp, rec, pairs, cols, y, N, first, pf);
    }
}

// Each thread's records (64-byte aligned: the tiles load them whole).
std::uint16_t* pack_buffer() {
    struct Buffer {
        std::uint16_t* p = static_cast<std::uint16_t*>(
            ::operator new(std::size_t(kBlock* kPackCols) * 2, std::align_val_t(64)));
        ~Buffer() { ::operator delete(p, std::align_val_t(64)); }
    };
    thread_local Buffer buf;
    return buf.p;
}

// The cache lines of weight rows [k0, k1), columns [c0, c1) (at most kBlock rows of
// kPackCols), into out; returns how many.
std::int64_t block_lines(const WeightView& w, std::int64_t k0, std::int64_t k1, std::int64_t c0,
                         std::int64_t c1, const char** out) {
    std::int64_t n = 0;
    for (std::int64_t k = k0; k < k1; ++k) {
        const auto a = reinterpret_cast<std::uintptr_t>(wrow(w, k) + c0) & ~std::uintptr_t(63),
                   e = reinterpret_cast<std::uintptr_t>(wrow(w, k) + c1);
        for (std::uintptr_t l = a; l < e; l += 64) out[n++] = reinterpret_cast<const char*>(l);
    }
    return n;
}

DP_BF16 void in_out_bf16(const std::uint32_t* xt, std::int64_t Kp, std::int64_t M,
                         const WeightView& w, float* y, std::int64_t n0, std::int64_t n1) {
    const std::int64_t N = w.cols, K = w.rows, Mt = M / kInOutRows * kInOutRows,
                       block = Kp / 2 * kInOutRows;
    std::uint16_t* buf = pack_buffer();
    thread_local std::vector<const char*> line_buf(std::size_t(kBlock * (kPackCols / 32 + 1)));
    const char** lines = line_buf.data();
    for (std::int64_t c0 = n0; c0 < n1; c0 += kPackCols) {
        const std::int64_t c1 = std::min(n1, c0 + kPackCols);
        for (std::int64_t k0 = 0; k0 < K; k0 += kBlock) {
            const std::int64_t k1 = std::min(K, k0 + kBlock), pairs = (k1 - k0 + 1) / 2;
            pack_block(w, k0, k1, c0, c1, buf);
            // The next block's weights are fetched while this one's tiles run (memory and
            // arithmetic overlap; each expert's weights come from memory once per pass).
            const std::int64_t nl =
                k1 < K    ? block_lines(w, k1, std::min(K, k1 + kBlock), c0, c1, lines)
                : c1 < n1 ? block_lines(w, 0, std::min(K, kBlock), c1, std::min(n1, c1 + kPackCols),
                                        lines)
                          : 0;
            const std::int64_t strips = (c1 - c0 + 31) / 32, per_strip = (nl + strips - 1) / strips;
            for (std::int64_t n = c0, s = 0; n < c1; n += 32, ++s) {
                const std::int64_t first = std::min(s * per_strip, nl),
                                   last = std::min(first + per_strip, nl);
                Prefetch pf{lines + first, lines + last};
                const std::int64_t c = std::min<std::int64_t>(32, c1 - n);
                const __mmask32 cols = c == 32 ? ~__mmask32(0) : __mmask32((1u << c) - 1);
                const std::uint16_t* rec = buf + s * pairs * 64;
                const std::uint32_t* xp = xt + k0 / 2 * kInOutRows;
                for (std::int64_t m = 0; m < Mt; m += kInOutRows)
                    in_out_tile<kInOutRows>(xp + m / kInOutRows * block, rec, pairs, cols,
                                            y + m * N + n, N, k0 == 0, pf);
                in_out_rest<kInOutRows - 1>(int(M - Mt), xp + Mt / kInOutRows * block, rec, pairs,
                                            cols, y + Mt * N + n, N, k0 == 0, pf);
                for (; pf.next < pf.end; ++pf.next) _mm_prefetch(*pf.next, _MM_HINT_T0);
            }
        }
    }
}

#pragma GCC diagnostic pop

}  // namespace

bool cpu_has_avx512_bf16() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16") &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

void linear_bf16_activations(const float* x, std::int64_t M, const WeightView& w, float* y,
                             ThreadPool& pool, bool simd) {
    if (w.dtype != DType::BF16)
        throw std::invalid_argument("linear_bf16_activations: the weights must be bf16, not " +
                                    std::string(dtype_name(w.dtype)));
    if (simd && !cpu_has_avx512_bf16())
        throw std::runtime_error("linear_bf16_activations: this CPU has no AVX512_BF16");
    const std::int64_t K = w.in_features(), N = w.out_features(), Kp = padded(K);
    if (M <= 0 || N <= 0) return;
    std::uint16_t* xb = activation_buffer(std::size_t(M * Kp));
    if (!simd) {
        for (std::int64_t m = 0; m < M; ++m) convert_scalar(x + m * K, K, Kp, xb + m * Kp);
        return twin(xb, Kp, M, w, y);
    }
    pool.parallel_for(M, std::max<std::int64_t>(1, 65536 / Kp),
                      [&](std::int64_t a, std::int64_t b) {
                          for (std::int64_t m = a; m < b; ++m)
                              convert_avx512(x + m * K, K, Kp, xb + m * Kp);
                      });
    if (w.layout == Layout::out_in) {
        const std::int64_t grain =
            std::max<std::int64_t>(4, 32768 / std::max<std::int64_t>(1, K * M) / 4 * 4);
        // Chunks of at most ~kStopTileMacs (in whole 4-column tiles) so a stop is seen soon.
        const std::int64_t cap = std::max<std::int64_t>(4, kStopTileMacs / (M * K) / 4 * 4);
        pool.parallel_for(
            N, std::min(grain, cap),
            [&](std::int64_t a, std::int64_t b) { out_in_bf16(xb, Kp, M, w, y, a, b); }, cap);
    } else {
        thread_local std::vector<std::uint32_t> pairs;
        const std::int64_t blocks = (M + kInOutRows - 1) / kInOutRows;
        if (pairs.size() < std::size_t(blocks * Kp / 2 * kInOutRows))
            pairs.resize(std::size_t(blocks * Kp / 2 * kInOutRows));
        std::uint32_t* xt = pairs.data();
        pair_rows(xb, Kp, M, xt);
        // Units of 64 columns (two tiles); only the last unit has a masked tail.
        // Wide chunks (one, or two per thread): each repacks whole runs of its weight rows, and
        // each row's run is one stream from memory. A chunk stays within a few ms (4 x
        // kStopTileMacs: the repack's memory traffic, not the arithmetic, sets its pace).
        const std::int64_t units = (N + 63) / 64;
        const std::int64_t cap = std::max<std::int64_t>(1, 4 * kStopTileMacs / (64 * M * K));
        const std::int64_t parts = pool.size() == 1 ? 1 : 2 * pool.size(),
                           grain = std::min(cap, (units + parts - 1) / parts);
        pool.parallel_for(
            units, grain,
            [&](std::int64_t a, std::int64_t b) {
                in_out_bf16(xt, Kp, M, w, y, a * 64, std::min(N, b * 64));
            },
            cap);
    }
}

}  // namespace deskpilot::model::engine::cpu
