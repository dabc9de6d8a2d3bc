// Launchers of the engine's CUDA kernels (model/engine/cuda/kernels.cu). Each mirrors a CPU twin
// with the same arguments and layout (cpu/ops.h, or the loop named beside it), so the gpu-labelled
// parity tests compare them directly. Pointers are device pointers; `stream` is a cudaStream_t.
// Activations are f32; weights and GEMM inputs bf16 (raw uint16 bits).
#pragma once

#include <cstdint>

// decode_splits is called from host and device code (kernels.cu); plain C++ elsewhere. The same
// definition as sample_twin.h's (an identical redefinition is allowed).
#ifndef DESKPILOT_HOST_DEVICE
#ifdef __CUDACC__
#define DESKPILOT_HOST_DEVICE __host__ __device__
#else
#define DESKPILOT_HOST_DEVICE
#endif
#endif

namespace deskpilot::model::cuda::k {

// y = bf16(x), round to nearest even (twin: engine::f32_to_bf16).
void to_bf16(const float* x, std::uint16_t* y, std::int64_t n, void* stream);
// Deterministic uniform values in [-scale, scale) as bf16 (synthetic benchmark weights).
void fill_random_bf16(std::uint16_t* w, std::int64_t n, std::uint64_t seed, float scale,
                      void* stream);
void fill_f32(float* x, std::int64_t n, float value, void* stream);
// out[i, :] = f32(table[ids[i], :]) (twin: Tensor::select(0, id).to_f32()).
void embed_gather(const std::uint16_t* table, const std::int32_t* ids, std::int64_t S,
                  std::int64_t H, float* out, void* stream);
// Twin: cpu::rms_norm (also the per-head q/k norm, with rows = tokens·heads).
void rms_norm(const float* x, const float* w, std::int64_t rows, std::int64_t d, float eps,
              float* out, void* stream);
// rms_norm whose result goes straight to bf16 (`out_bf16`, the next GEMM's input) in the same
// pass, and to f32 `out` too where that is not null (twin: cpu::rms_norm, then
// engine::f32_to_bf16). One launch instead of rms_norm + to_bf16.
void rms_norm_bf16(const float* x, const float* w, std::int64_t rows, std::int64_t d, float eps,
                   float* out, std::uint16_t* out_bf16, void* stream);
// Rotate-half rotary on x [S, heads, 2·half] in place; pos is [3][S] (T, H, W), axis[j] the
// position axis of frequency j (cpu::Rope::axis: interleaved or chunked MRoPE). Twin:
// cpu::Rope::tables + cpu::apply_rope.
void rope(float* x, std::int64_t S, std::int64_t heads, std::int64_t half, const std::int32_t* pos,
          const float* inv_freq, const std::int32_t* axis, void* stream);
// q [S, NH, 2·half] and k [S, KH, 2·half] in one launch: each head row RMS-normalised with
// q_norm / k_norm (null: none, Qwen2), then rotated as `rope` does, in place. Twin: rms_norm
// over the S·NH (S·KH) rows, then rope on q and on k (the same bits).
void qk_norm_rope(float* q, float* k, std::int64_t S, std::int64_t NH, std::int64_t KH,
                  std::int64_t half, const float* q_norm, const float* k_norm, float eps,
                  const std::int32_t* pos, const float* inv_freq, const std::int32_t* axis,
                  void* stream);
// Copies k, v [S, kv_heads, d] into caches [kv_heads, cap, d] at rows past..past+S-1. The
// caches hold f32, or bf16 (raw bits, rounded to nearest even: twin engine::f32_to_bf16).
void kv_append(const float* k, const float* v, std::int64_t S, std::int64_t kv_heads,
               std::int64_t d, float* k_cache, float* v_cache, std::int64_t cap, std::int64_t past,
               void* stream);
void kv_append(const float* k, const float* v, std::int64_t S, std::int64_t kv_heads,
               std::int64_t d, std::uint16_t* k_cache, std::uint16_t* v_cache, std::int64_t cap,
               std::int64_t past, void* stream);
// Causal GQA attention (twin: cpu::attention). Each query's keys are split into `splits` chunks
// processed by separate blocks (split-K, for decode; prefill takes flash_attention.h where it
// supports the head dim) and merged by a second kernel, or, where `head_done` is not null, by the
// last of each (query, head)'s split blocks to finish, in the same launch (head_done: q_len·heads
// counters, zero before the launch and left zero; the merged values are the same bits); `scratch`
// holds q_len·heads·splits·(d+2) floats. d must be a multiple of 32, at most 256. With bf16
// caches the K/V values are widened to f32 and everything accumulates in f32 (twin: cpu::attention
// on the bf16-rounded K/V).
void attention(const float* q, std::int64_t q_len, std::int64_t past, std::int64_t heads,
               std::int64_t kv_heads, std::int64_t d, const float* k_cache, const float* v_cache,
               std::int64_t cap, float scale, int splits, float* scratch, float* out, void* stream,
               unsigned* head_done = nullptr);
void attention(const float* q, std::int64_t q_len, std::int64_t past, std::int64_t heads,
               std::int64_t kv_heads, std::int64_t d, const std::uint16_t* k_cache,
               const std::uint16_t* v_cache, std::int64_t cap, float scale, int splits,
               float* scratch, float* out, void* stream, unsigned* head_done = nullptr);
// The same with the output written as bf16 (the o_proj GEMM's input; twin: attention, then
// engine::f32_to_bf16): the decode step's split-K merge saves the conversion launch.
void attention(const float* q, std::int64_t q_len, std::int64_t past, std::int64_t heads,
               std::int64_t kv_heads, std::int64_t d, const float* k_cache, const float* v_cache,
               std::int64_t cap, float scale, int splits, float* scratch, std::uint16_t* out,
               void* stream, unsigned* head_done = nullptr);
void attention(const float* q, std::int64_t q_len, std::int64_t past, std::int64_t heads,
               std::int64_t kv_heads, std::int64_t d, const std::uint16_t* k_cache,
               const std::uint16_t* v_cache, std::int64_t cap, float scale, int splits,
               float* scratch, std::uint16_t* out, void* stream, unsigned* head_done = nullptr);
std::int64_t attention_scratch_floats(std::int64_t q_len, std::int64_t heads, std::int64_t d,
                                      int splits);

// The decoder's split-K decode attention: the most splits (reached at 1984 cached tokens), and
// how many one query over `past` cached tokens takes (enough blocks to fill the GPU when one
// query meets a long cache). One definition for the host (eager steps choose the grid) and the
// device (the *_decode kernels below choose it per launch), so both split the keys alike.
constexpr int kMaxSplits = 32;
DESKPILOT_HOST_DEVICE constexpr int decode_splits(std::int64_t past) {
    const std::int64_t s = (past + 64) / 64;
    return s < 1 ? 1 : (s > kMaxSplits ? kMaxSplits : int(s));
}

// A decode step (one query) whose KV length is read on the device: `past_d` points at the int64
// count of cached tokens before this one, read when the kernel runs, so the CUDA graph of a
// decode step (cuda/graph.h) replays unchanged as the cache grows. Twins: the host-`past` forms
// above with q_len / S = 1 and past = *past_d.
// kv_append_decode writes the token's k, v [kv_heads, d] at cache row *past_d.
void kv_append_decode(const float* k, const float* v, std::int64_t kv_heads, std::int64_t d,
                      float* k_cache, float* v_cache, std::int64_t cap, const std::int64_t* past_d,
                      void* stream);
void kv_append_decode(const float* k, const float* v, std::int64_t kv_heads, std::int64_t d,
                      std::uint16_t* k_cache, std::uint16_t* v_cache, std::int64_t cap,
                      const std::int64_t* past_d, void* stream);
// A decode step's qk_norm_rope (S = 1) and KV append in one launch: q [NH, 2·half] and k
// [KH, 2·half] normalised (q_norm / k_norm; null: none) and rotated in place, then the rotated k
// and v [KH, 2·half] written at cache row `past`. Twin: qk_norm_rope, then kv_append (the same
// bits in q, k and both caches).
void qk_norm_rope_append(float* q, float* k, const float* v, std::int64_t NH, std::int64_t KH,
                         std::int64_t half, const float* q_norm, const float* k_norm, float eps,
                         const std::int32_t* pos, const float* inv_freq, const std::int32_t* axis,
                         float* k_cache, float* v_cache, std::int64_t cap, std::int64_t past,
                         void* stream);
void qk_norm_rope_append(float* q, float* k, const float* v, std::int64_t NH, std::int64_t KH,
                         std::int64_t half, const float* q_norm, const float* k_norm, float eps,
                         const std::int32_t* pos, const float* inv_freq, const std::int32_t* axis,
                         std::uint16_t* k_cache, std::uint16_t* v_cache, std::int64_t cap,
                         std::int64_t past, void* stream);
// The same at cache row *past_d, read on the device (a captured step; twin: qk_norm_rope, then
// kv_append_decode).
void qk_norm_rope_append_decode(float* q, float* k, const float* v, std::int64_t NH,
                                std::int64_t KH, std::int64_t half, const float* q_norm,
                                const float* k_norm, float eps, const std::int32_t* pos,
                                const float* inv_freq, const std::int32_t* axis, float* k_cache,
                                float* v_cache, std::int64_t cap, const std::int64_t* past_d,
                                void* stream);
void qk_norm_rope_append_decode(float* q, float* k, const float* v, std::int64_t NH,
                                std::int64_t KH, std::int64_t half, const float* q_norm,
                                const float* k_norm, float eps, const std::int32_t* pos,
                                const float* inv_freq, const std::int32_t* axis,
                                std::uint16_t* k_cache, std::uint16_t* v_cache, std::int64_t cap,
                                const std::int64_t* past_d, void* stream);
// attention_decode runs a fixed grid of `max_splits` (at most kMaxSplits) splits per head; the
// first min(decode_splits(*past_d), max_splits) take the keys 0..*past_d in the same chunks as
// attention(..., splits = decode_splits(past), ...) does, so the result is that call's bits; each
// other split writes an empty partial (max -FLT_MAX, sum 0) that the merge skips. `scratch` holds
// attention_scratch_floats(1, heads, d, max_splits) floats. f32 or bf16 (o_proj input) output;
// head_done (heads counters) merges in the same launch, as attention's does.
void attention_decode(const float* q, const std::int64_t* past_d, std::int64_t heads,
                      std::int64_t kv_heads, std::int64_t d, const float* k_cache,
                      const float* v_cache, std::int64_t cap, float scale, int max_splits,
                      float* scratch, float* out, void* stream, unsigned* head_done = nullptr);
void attention_decode(const float* q, const std::int64_t* past_d, std::int64_t heads,
                      std::int64_t kv_heads, std::int64_t d, const std::uint16_t* k_cache,
                      const std::uint16_t* v_cache, std::int64_t cap, float scale, int max_splits,
                      float* scratch, float* out, void* stream, unsigned* head_done = nullptr);
void attention_decode(const float* q, const std::int64_t* past_d, std::int64_t heads,
                      std::int64_t kv_heads, std::int64_t d, const float* k_cache,
                      const float* v_cache, std::int64_t cap, float scale, int max_splits,
                      float* scratch, std::uint16_t* out, void* stream,
                      unsigned* head_done = nullptr);
void attention_decode(const float* q, const std::int64_t* past_d, std::int64_t heads,
                      std::int64_t kv_heads, std::int64_t d, const std::uint16_t* k_cache,
                      const std::uint16_t* v_cache, std::int64_t cap, float scale, int max_splits,
                      float* scratch, std::uint16_t* out, void* stream,
                      unsigned* head_done = nullptr);
// out[r, j] = silu(gu[r, j]) · gu[r, F + j] for rows of [gate | up] (twin: the loop in
// Qwen3MoeTextModel::moe_block).
void silu_mul(const float* gu, std::int64_t rows, std::int64_t F, float* out, void* stream);
// silu_mul written as bf16 (the down GEMM's input; twin: silu_mul, then engine::f32_to_bf16).
void silu_mul_bf16(const float* gu, std::int64_t rows, std::int64_t F, std::uint16_t* out,
                   void* stream);
// q [S, nq] += bq, k [S, nkv] += bk, v [S, nkv] += bv in one launch (twin: three add_bias).
void add_bias_qkv(float* q, const float* bq, std::int64_t nq, float* k, const float* bk, float* v,
                  const float* bv, std::int64_t nkv, std::int64_t S, void* stream);
// Per token: softmax over E logits, top-k (ties to the lower index), renormalised when
// `normalise` (twin: cpu::route_top_k).
void route_top_k(const float* logits, std::int64_t S, std::int64_t E, int k, bool normalise,
                 std::int32_t* index, float* weight, void* stream);
// out[r, :] = bf16(x[src[r], :]): rows of the tokens each (token, expert) pair reads, sorted
// by expert so each expert's rows are contiguous.
void gather_rows_bf16(const float* x, const std::int32_t* src, std::int64_t n, std::int64_t H,
                      std::uint16_t* out, void* stream);
// x[i, :] += Σ_j weight[i·K+j] · d[row_of[i·K+j], :] — the weighted sum of the token's expert
// outputs, in a fixed order (deterministic, no atomics). row_of null: row i·K+j.
void moe_combine(float* x, const float* d, const std::int32_t* row_of, const float* weight,
                 std::int64_t S, int K, std::int64_t H, void* stream);
// Device pointer arrays for a batched GEMM over one token's K selected experts, with no host
// round trip: for choice j, gu_a[j] = gate_up + index[j]·gu_stride, down_a[j] = down +
// index[j]·down_stride (bf16 elements); the activation/output rows are j-th rows of x (shared),
// gu, act and out. `ptrs` receives 6·K pointers: gu A, B, C, then down A, B, C.
void moe_pointers(const std::int32_t* index, int K, const std::uint16_t* gate_up,
                  std::int64_t gu_stride, const std::uint16_t* down, std::int64_t down_stride,
                  const std::uint16_t* x, float* gu, std::int64_t gu_cols, const std::uint16_t* act,
                  std::int64_t act_cols, float* out, std::int64_t out_cols, void** ptrs,
                  void* stream);
// x += y.
void add(float* x, const float* y, std::int64_t n, void* stream);
// out[r] = argmax of row r (ties to the lower index; twin: std::max_element), greedy sampling.
void argmax(const float* x, std::int64_t rows, std::int64_t n, std::int32_t* out, void* stream);

// Temperature + top-p sampling of one row of logits with the uniform draw `u` in [0, 1), in one
// block (twin: cuda::sample_top_p_cpu in sample_twin.h). `p` is scratch for n floats; `info`
// receives {threshold, kept mass}.
void sample_top_p(const float* logits, std::int64_t n, float temperature, float top_p, float u,
                  float* p, std::int32_t* out, float* info, void* stream);

}  // namespace deskpilot::model::cuda::k
