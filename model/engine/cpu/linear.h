// Matrix products with f32 activations and f32/bf16/f16 weights read in place (no conversion
// copy of the weights). Two weight layouts, because checkpoints use both:
//   out_in: W is [N, K] (nn.Linear, per-expert tensors)        y[m, n] = Σ_k x[m, k] W[n, k]
//   in_out: W is [K, N] (Hub-fused experts gate_up_proj, down_proj)  y[m, n] = Σ_k x[m, k] W[k, n]
// Rows of W may be strided (`ld`), so a column slice of a fused tensor needs no copy.
// AVX-512F or AVX2+FMA(+F16C) kernels are chosen at run time where the CPU has them; the scalar
// twins are the reference and are kept callable for parity tests.
#pragma once

#include <cstdint>

#include "model/engine/cpu/thread_pool.h"
#include "model/engine/dtype.h"
#include "model/engine/tensor.h"

namespace deskpilot::model::engine::cpu {

enum class Layout { out_in, in_out };

struct WeightView {
    const void* data = nullptr;
    DType dtype = DType::F32;
    std::int64_t rows = 0, cols = 0;  // as stored: [N, K] for out_in, [K, N] for in_out
    std::int64_t ld = 0;              // elements between consecutive stored rows
    Layout layout = Layout::out_in;

    std::int64_t in_features() const { return layout == Layout::out_in ? cols : rows; }
    std::int64_t out_features() const { return layout == Layout::out_in ? rows : cols; }
    // A 2-D tensor (unit stride in its last dimension) seen in `layout`.
    static WeightView of(const Tensor& t, Layout layout);
    // Columns [begin, end) of the stored matrix (a view).
    WeightView cols_slice(std::int64_t begin, std::int64_t end) const;
};

// avx512bf16: the AVX-512F kernels, plus bf16-activation prefill GEMMs for bf16 weights
// (cpu/gemm_bf16.h says why that is the reference's precision).
enum class Isa { scalar, avx2, avx512, avx512bf16 };

// The most multiply-adds one pool chunk of a GEMM may take (a few ms): a stop (StopScope) is
// only seen between chunks, and a long prompt's GEMM in the pool's usual chunks would take a
// second per chunk.
inline constexpr std::int64_t kStopTileMacs = std::int64_t(1) << 25;
// The widest the running CPU supports. DESKPILOT_ISA=scalar|avx2|avx512 caps it, and
// DESKPILOT_BF16_ACTIVATIONS=0 keeps f32 activations everywhere (caps it at avx512).
Isa best_isa();
bool isa_supported(Isa isa);
const char* isa_name(Isa isa);

// y[M, N] = x[M, K] · W (x rows are contiguous with K elements, y rows with N).
void linear(const float* x, std::int64_t M, const WeightView& w, float* y, ThreadPool& pool,
            Isa isa = best_isa());

}  // namespace deskpilot::model::engine::cpu
