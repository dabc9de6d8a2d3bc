// Tiled (flash-style) attention for the vision towers: per job (head, block of queries) it
// walks the segment's keys in tiles, keeping a running max and sum per query (online softmax),
// so no [queries × keys] score matrix is written and exp() runs vectorised. The kernel is
// compiled for AVX-512F, AVX2+FMA and baseline SSE from one source (flash_attention_kernel.inc)
// and chosen at run time by cpu::best_isa(), like cpu::linear.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "model/engine/cpu/ops.h"
#include "model/engine/vision/vision_blocks.h"

namespace deskpilot::model::engine::vblocks {

namespace {

struct FlashArgs {
    const float* qkv;  // [S, 3, heads, hd], rotated
    const float* kt;   // per head kpad keys in tiles of kKeyTile: [tile][hd][kKeyTile]
    const float* v;    // [heads][S][hdp]
    float* out;        // [S, heads·hd]
    std::int64_t hid, hd, hdp, kpad, ldv_head;
    float scale;
};
struct FlashJob {
    std::int64_t h, s0, n, q0, q1;
    std::int64_t p0;  // where the segment's keys start in FlashArgs::kt (a whole tile)
};

// Keys are stored transposed in tiles of the widest kernel's key tile (AVX-512: 4 × 16), each
// segment starting a tile: a tile's hd rows are then contiguous (no cache-set aliasing from a
// row stride of S), and the narrower kernels use part of one.
constexpr std::int64_t kKeyTile = 64;
// Offset of padded key position p (dimension 0) in one head's keys.
inline std::int64_t key_tile(std::int64_t p, std::int64_t hd) {
    return (p / kKeyTile) * hd * kKeyTile + p % kKeyTile;
}
constexpr std::int64_t kQueryBlock = 64;

}  // namespace

#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")
namespace avx512 {
#define W 16
#define R 4
#define CMAX 5
#include "model/engine/vision/flash_attention_kernel.inc"
#undef W
#undef R
#undef CMAX
}  // namespace avx512
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
#define W 8
#define R 3
#define CMAX 3
#include "model/engine/vision/flash_attention_kernel.inc"
#undef W
#undef R
#undef CMAX
}  // namespace avx2
#pragma GCC pop_options

namespace sse {
#define W 4
#define R 2
#define CMAX 4
#include "model/engine/vision/flash_attention_kernel.inc"
#undef W
#undef R
#undef CMAX
}  // namespace sse

void segment_attention_flash(float* qkv, std::int64_t S, std::int64_t heads, std::int64_t hd,
                             const std::vector<float>& cos, const std::vector<float>& sin,
                             std::span<const std::int64_t> segments, float* attn,
                             cpu::ThreadPool& pool, cpu::Isa isa, Workspace* scratch) {
    const std::int64_t hid = heads * hd, half = hd / 2, hdp = (hd + 15) / 16 * 16;
    std::vector<std::int64_t> kpos(std::size_t(S), 0), seg_p0(segments.size(), 0);
    std::int64_t kpad = 0;
    for (std::size_t seg = 0; seg + 1 < segments.size(); ++seg) {
        seg_p0[seg] = kpad;
        for (std::int64_t s = segments[seg]; s < segments[seg + 1]; ++s)
            kpos[std::size_t(s)] = kpad + s - segments[seg];
        kpad += (std::max<std::int64_t>(segments[seg + 1] - segments[seg], 0) + kKeyTile - 1) /
                kKeyTile * kKeyTile;
    }
    // Neither is zeroed whole (a full screenshot's keys are ~55 MB at Qwen2.5-VL's widths: one
    // thread's work that no cancel could stop). Every slot is written by the pool jobs below:
    // keys and values, the values' padding, and the key slots past each segment's end (their
    // scores are overwritten with -inf anyway; zeros keep stale bits, denormals say, out).
    Workspace own;
    Workspace& ws = scratch != nullptr ? *scratch : own;
    float* const kt = ws.floats(0, std::size_t(heads * hd * kpad));
    float* const v = ws.floats(1, std::size_t(heads * S * hdp));
    // Rotate q and k, then lay each head's keys out transposed (a key tile's scores are then
    // vector FMAs over the keys) and its values padded to whole vectors.
    pool.parallel_for(S, 64, [&](std::int64_t s0, std::int64_t s1) {
        for (std::int64_t s = s0; s < s1; ++s) {
            rope2d_rotate(&qkv[std::size_t(s * 3 * hid)], heads, hd, &cos[std::size_t(s * half)],
                          &sin[std::size_t(s * half)]);
            for (std::int64_t h = 0; h < heads; ++h) {
                const float* k = &qkv[std::size_t((s * 3 + 1) * hid + h * hd)];
                const float* vs = &qkv[std::size_t((s * 3 + 2) * hid + h * hd)];
                float* vd = &v[std::size_t((h * S + s) * hdp)];
                for (std::int64_t d = 0; d < hd; ++d) {
                    kt[std::size_t(h * hd * kpad + key_tile(kpos[std::size_t(s)], hd) +
                                   d * kKeyTile)] = k[d];
                    vd[d] = vs[d];
                }
                for (std::int64_t d = hd; d < hdp; ++d) vd[d] = 0.0f;
            }
        }
    });
    const std::int64_t n_segments = std::max<std::int64_t>(std::int64_t(segments.size()) - 1, 0);
    pool.parallel_for(n_segments, 1, [&](std::int64_t g0, std::int64_t g1) {
        for (std::int64_t g = g0; g < g1; ++g) {
            const std::int64_t n = std::max<std::int64_t>(segments[g + 1] - segments[g], 0),
                               tail = (kKeyTile - n % kKeyTile) % kKeyTile;
            if (tail == 0) continue;
            const std::int64_t at = key_tile(seg_p0[std::size_t(g)] + n, hd);
            for (std::int64_t h = 0; h < heads; ++h)
                for (std::int64_t d = 0; d < hd; ++d)
                    std::fill_n(&kt[std::size_t(h * hd * kpad + at + d * kKeyTile)], tail, 0.0f);
        }
    });
    std::vector<FlashJob> jobs;
    for (std::size_t seg = 0; seg + 1 < segments.size(); ++seg) {
        const std::int64_t s0 = segments[seg], n = segments[seg + 1] - s0;
        for (std::int64_t h = 0; h < heads; ++h)
            for (std::int64_t q0 = s0; q0 < s0 + n; q0 += kQueryBlock)
                jobs.push_back({h, s0, n, q0, std::min(q0 + kQueryBlock, s0 + n), seg_p0[seg]});
    }
    const FlashArgs a{qkv, kt, v, attn, hid, hd, hdp, kpad, S * hdp, 1.0f / std::sqrt(float(hd))};
    // One job is at most kQueryBlock × S × hd × 4 flops (~150 M at S = 8k): a StopScope is
    // seen within a few ms.
    pool.parallel_for(
        std::int64_t(jobs.size()), 1,
        [&](std::int64_t j0, std::int64_t j1) {
            for (std::int64_t j = j0; j < j1; ++j) {
                const FlashJob& jb = jobs[std::size_t(j)];
                if (isa >= cpu::Isa::avx512)
                    avx512::run_block(jb, a);
                else if (isa >= cpu::Isa::avx2)
                    avx2::run_block(jb, a);
                else
                    sse::run_block(jb, a);
            }
        },
        1);
}

bool vision_attention_reference() {
    const char* e = std::getenv("DESKPILOT_VISION_ATTN");
    return e != nullptr && std::strcmp(e, "reference") == 0;
}

void segment_attention(float* qkv, std::int64_t S, std::int64_t heads, std::int64_t hd,
                       const std::vector<float>& cos, const std::vector<float>& sin,
                       std::span<const std::int64_t> segments, float* attn, cpu::ThreadPool& pool,
                       Workspace* scratch) {
    if (vision_attention_reference())
        segment_attention_reference(qkv, S, heads, hd, cos, sin, segments, attn, pool);
    else
        segment_attention_flash(qkv, S, heads, hd, cos, sin, segments, attn, pool, cpu::best_isa(),
                                scratch);
}

}  // namespace deskpilot::model::engine::vblocks
