// Causal GQA attention on the GEMM kernels: for each KV head, the queries of its head group
// (in blocks) times the cached keys give the scores, a masked fp32 softmax per row, and the
// probabilities times the cached values give the output. The masked upper triangle of a
// prefill block is computed and discarded; that costs less than scalar dot products.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "model/engine/cpu/linear.h"
#include "model/engine/cpu/ops.h"

namespace deskpilot::model::engine::cpu {

void attention(const float* q, std::int64_t q_len, std::int64_t past, std::int64_t heads,
               std::int64_t kv_heads, std::int64_t d, const float* k_cache, const float* v_cache,
               std::int64_t cap, float scale, float* out, ThreadPool& pool) {
    const std::int64_t group = heads / kv_heads;
    const std::int64_t block = std::max<std::int64_t>(1, 256 / group);  // queries per block
    // Kept per thread between calls (a prefill reallocating them per layer paid page faults);
    // the pool's jobs reach them through plain pointers (a thread_local named in a job would
    // be the worker's own).
    thread_local std::vector<float> qb, scores, ob;
    for (std::int64_t g = 0; g < kv_heads; ++g) {
        WeightView keys;
        keys.data = k_cache + g * cap * d;
        keys.dtype = DType::F32;
        keys.cols = d;
        keys.ld = d;
        keys.layout = Layout::out_in;
        WeightView values = keys;
        values.data = v_cache + g * cap * d;
        values.layout = Layout::in_out;
        for (std::int64_t i0 = 0; i0 < q_len; i0 += block) {
            const std::int64_t nq = std::min(block, q_len - i0);
            const std::int64_t n = past + i0 + nq;  // keys any query of this block may see
            keys.rows = values.rows = n;
            const std::int64_t rows =
                nq * group;  // row r: query i0 + r / group, head g·group + r % group
            qb.resize(std::size_t(rows * d));
            for (std::int64_t r = 0; r < rows; ++r)
                std::memcpy(qb.data() + r * d,
                            q + ((i0 + r / group) * heads + g * group + r % group) * d,
                            std::size_t(d) * sizeof(float));
            scores.resize(std::size_t(rows * n));
            float* const sc = scores.data();
            linear(qb.data(), rows, keys, sc, pool);
            pool.parallel_for(rows, 8, [&](std::int64_t a, std::int64_t b) {
                for (std::int64_t r = a; r < b; ++r) {
                    float* s = sc + r * n;
                    const std::int64_t visible = past + i0 + r / group + 1;
                    softmax_scaled(s, visible, scale);
                    std::fill(s + visible, s + n, 0.0f);  // causal mask
                }
            });
            ob.resize(std::size_t(rows * d));
            linear(scores.data(), rows, values, ob.data(), pool);
            for (std::int64_t r = 0; r < rows; ++r)
                std::memcpy(out + ((i0 + r / group) * heads + g * group + r % group) * d,
                            ob.data() + r * d, std::size_t(d) * sizeof(float));
        }
    }
}

}  // namespace deskpilot::model::engine::cpu
