// The engine's text decoders on one CUDA GPU: the recipes of engine::Qwen3MoeTextModel
// (arch/qwen3_vl_moe.h: q/k norm, MoE) and engine::Qwen25TextModel (arch/qwen2_5_vl.h: q/k/v
// biases, dense SwiGLU, chunked MRoPE), with the weights uploaded once as bf16
// (cuda/text_weights.h), the KV cache on the device ([layers][kv_heads][capacity][head_dim], bf16
// or f32: KvDtype), one stream, cuBLAS GEMMs (bf16 in, fp32 accumulate) and the kernels of
// cuda/kernels.h. MoE tokens are grouped by expert on the host after routing, so only the selected
// experts' weights are read; a dense MLP runs without a host round trip. In a build without CUDA
// the constructors throw CudaError (see cuda/text_model_none.cpp).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/engine/arch/qwen2_5_vl.h"
#include "model/engine/arch/qwen3_vl_moe.h"
#include "model/engine/cuda/device.h"
#include "model/engine/cuda/env_switch.h"
#include "model/engine/cuda/graph.h"
#include "model/engine/generator.h"

namespace deskpilot::model::cuda {

// The KV cache's element type. bf16 halves the bytes a decode step reads per cached token (what
// bounds attention at long context) and the cache's memory; the values are rounded to bf16 once
// as they are appended and attention accumulates in f32. f32 keeps the CPU decoder's cache exactly
// (parity debugging).
enum class KvDtype { bf16, f32 };

// The default for new models: DESKPILOT_CUDA_KV=bf16|f32, bf16 when unset or empty. Another value
// throws CudaError naming the variable and the value.
inline KvDtype kv_dtype_from_env() {
    return env_switch("DESKPILOT_CUDA_KV", "bf16", "f32", "a KV cache type (bf16 or f32)")
               ? KvDtype::bf16
               : KvDtype::f32;
}

// DESKPILOT_CUDA_FUSED=1|0 (1 when unset or empty): 0 runs the decoder's unfused kernel
// sequence (rms_norm → to_bf16, silu_mul → to_bf16, GEMM → add, one add_bias per q/k/v), for
// parity debugging and to measure what the fused epilogues save. Another value throws CudaError
// naming the variable and the value.
inline bool fused_from_env() {
    return env_switch("DESKPILOT_CUDA_FUSED", "1", "0", "1 or 0");
}

// DESKPILOT_CUDA_GRAPHS=1|0 (1 when unset or empty): 1 runs each batch-1 decode step as a CUDA
// graph (cuda/graph.h), captured once and replayed for every following token (captured again
// only when the kernel sequence or a buffer it uses changed). On since the first H200 runs
// (2026-12-04) showed the replayed step equal to the eager one and 1.04x (before the router fix)
// to 1.15x (after it) its decode speed (bench_cuda_decode --graphs both). Another value throws
// CudaError naming the variable and the value.
inline bool graphs_from_env() {
    return env_switch("DESKPILOT_CUDA_GRAPHS", "1", "0", "1 or 0");
}

// DESKPILOT_CUDA_GEMV=1|0 (1 when unset or empty): 1 runs the batch-1 (decode) GEMMs, the MoE
// experts' included, through the engine's own matrix-vector kernels (cuda/gemv.h); 0 through
// cuBLAS (its batched GEMM for the experts), for comparison (bench_cuda_decode --gemv both).
// Another value throws CudaError naming the variable and the value.
inline bool gemv_from_env() {
    return env_switch("DESKPILOT_CUDA_GEMV", "1", "0", "1 or 0");
}

// DESKPILOT_CUDA_MOE_GROUPING=device|host (device when unset or empty): how an MoE layer's grouped
// pass (every prefill; decode too with DESKPILOT_CUDA_MOE=grouped) groups its (token, expert)
// pairs. device: cuda/moe_grouped.h's kernels, five launches and no host round trip. host: the
// routing downloaded and grouped on the host (one stream synchronisation per layer), then two
// cuBLAS GEMMs per chosen expert; the path before the device grouping, kept for comparison
// (bench_cuda_prefill --moe-grouping both). A layer whose shapes the device kernels do not take
// (moe_grouped_supports) groups on the host either way. Another value throws CudaError naming
// the variable and the value.
inline bool moe_device_grouping_from_env() {
    return env_switch("DESKPILOT_CUDA_MOE_GROUPING", "device", "host", "device or host");
}

class CudaTextModel {
  public:
    // Uploads the weights of `model` (a CPU model, which validated the checkpoint's names and
    // shapes) to GPU `device`. Throws CudaError for no device or out of memory (naming the
    // tensor and its size).
    CudaTextModel(const engine::Qwen3MoeTextModel& model, const engine::Checkpoint& checkpoint,
                  int device = 0);
    CudaTextModel(const engine::Qwen25TextModel& model, const engine::Checkpoint& checkpoint,
                  int device = 0);
    // Either of the CPU decoders above (as engine::make_text_decoder built it); throws CudaError
    // for another recipe.
    static std::unique_ptr<CudaTextModel> upload(const engine::TextDecoder& cpu,
                                                 const engine::Checkpoint& checkpoint,
                                                 int device = 0);
    // Random bf16 weights at the config's real shapes, generated on the device (benchmarks).
    static std::unique_ptr<CudaTextModel> synthetic(const engine::ModelConfig& config,
                                                    std::uint64_t seed, int device = 0);
    ~CudaTextModel();
    CudaTextModel(const CudaTextModel&) = delete;
    CudaTextModel& operator=(const CudaTextModel&) = delete;

    const engine::ModelConfig& config() const;
    // An empty KV cache for up to `capacity` tokens (reallocated when it grows).
    void reset(std::int64_t capacity);
    // Room for `capacity` tokens, keeping the cached ones (copied on the device when it grows).
    void reserve(std::int64_t capacity);
    // Forgets the cached tokens from `length` on (0 <= length <= length()); the next forward
    // continues after the first `length`. Throws std::invalid_argument outside that range.
    void rewind(std::int64_t length);
    std::int64_t length() const;
    std::int64_t capacity() const;
    // The KV cache's element type (kv_dtype_from_env() at construction). Changing it empties the
    // cache (length 0; the next reserve/reset allocates the new type).
    KvDtype kv_dtype() const;
    void set_kv_dtype(KvDtype dtype);
    // Whether the fused epilogues run (fused_from_env() at construction; false: the unfused
    // kernel sequence, the same results within float rounding). Takes effect with the next pass.
    bool fused() const;
    void set_fused(bool fused);
    // Whether batch-1 decode steps run as a CUDA graph (graphs_from_env() at construction). A step
    // is captured only after one eager batch-1 step has sized the scratch buffers, and only where
    // it synchronises nothing: text tokens, no image features, MoE layers on the batched
    // (device-routed) path; later steps replay that graph (cuda/graph.h says what makes it
    // captured again). Takes effect with the next step.
    bool graphs() const;
    void set_graphs(bool graphs);
    // Whether batch-1 GEMMs run through cuda/gemv.h's kernels (gemv_from_env() at construction)
    // or cuBLAS. Takes effect with the next pass.
    bool gemv() const;
    void set_gemv(bool gemv);
    // Whether MoE layers group their pairs on the device (moe_device_grouping_from_env() at
    // construction) or on the host. Takes effect with the next pass.
    bool moe_device_grouping() const;
    void set_moe_device_grouping(bool device);
    // What the decode-step graph has done so far (captures, instantiations, updates, launches,
    // replays).
    GraphCounts graph_counts() const;

    // Runs `ids` after the cached tokens; logits [ids.size(), vocab] if `all_logits`, else
    // [1, vocab] for the last token. `pos` may be multimodal (engine::multimodal_positions).
    // `visual` (host memory, as engine::TextDecoder::forward takes it): its merged rows replace
    // the embeddings of the image_token_id tokens among `ids`, in order, and deepstack[k] is
    // added to those tokens' hidden states after decoder layer k, as the CPU decoder does.
    std::vector<float> forward(std::span<const std::int32_t> ids, const engine::Positions& pos,
                               bool all_logits = false,
                               const engine::VisualInjection* visual = nullptr);
    // The same for the last token, but argmax on the device: only the id comes back.
    std::int32_t forward_greedy(std::span<const std::int32_t> ids, const engine::Positions& pos);
    // The same with temperature/top-p sampling on the device for the uniform draw `u` in [0, 1)
    // (k::sample_top_p; its CPU twin is sample_top_p_cpu in sample_twin.h).
    std::int32_t forward_sample(std::span<const std::int32_t> ids, const engine::Positions& pos,
                                float temperature, float top_p, float u);
    void synchronize() const;

    std::size_t weight_bytes() const;
    // Bytes one decode step reads at the current length: attention weights (and biases), the
    // router, the selected experts' weights (or the dense MLP's), the lm head, one embedding row
    // and the KV cache.
    std::size_t decode_bytes_per_token() const;

    struct Impl;

  private:
    CudaTextModel();
    std::unique_ptr<Impl> impl_;
};

// engine::generate on the GPU: prefill, then decode with the next token chosen on the device
// (argmax, or top-p with draws from a generator seeded by options.sampling.seed, so runs
// repeat; the first token, from the prefill logits, through the CPU twins).
engine::GenerateResult generate(CudaTextModel& model, std::span<const std::int32_t> prompt,
                                const engine::GenerateOptions& options,
                                const std::function<bool(std::int32_t)>& on_token = {});

}  // namespace deskpilot::model::cuda
