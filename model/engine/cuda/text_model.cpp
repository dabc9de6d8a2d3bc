#include "model/engine/cuda/text_model.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <string>
#include <unordered_map>

#include "model/engine/cuda/buffer.h"
#include "model/engine/cuda/flash_attention.h"
#include "model/engine/cuda/gemm.h"
#include "model/engine/cuda/gemv.h"
#include "model/engine/cuda/graph.h"
#include "model/engine/cuda/kernels.h"
#include "model/engine/cuda/moe_grouped.h"
#include "model/engine/cuda/moe_grouping.h"
#include "model/engine/cuda/pdl.h"
#include "model/engine/cuda/sample_twin.h"
#include "model/engine/cuda/stop_point.h"
#include "model/engine/cuda/text_weights.h"
#include "model/engine/cuda/vision_kernels.h"

namespace deskpilot::model::cuda {

using engine::cpu::Layout;

namespace {

DeviceBuffer f32_buffer(const std::vector<float>& v, const std::string& name) {
    DeviceBuffer b(v.size() * sizeof(float), name);
    b.upload(v.data(), b.bytes());
    return b;
}

// cuBLAS's workspace, set once so no GEMM allocates one inside a captured step (32 MiB: what
// cuBLAS recommends for Hopper). Set whether or not graphs run, so both pick the same kernels.
constexpr std::size_t kBlasWorkspace = std::size_t(32) << 20;

// Thrown by tmp() when a scratch buffer would have to grow inside a captured step: growing
// synchronises the stream and allocates, which a capture cannot hold. The step is then run
// eagerly (and the buffer grown); the next one is captured.
struct ScratchGrows {};

// A batch-1 step's staging (pinned host memory, copied to the "ids" scratch by one copy): the token
// id, its t/h/w positions, then the KV length before it (int64, 8-byte aligned at byte 16) that
// the *_decode kernels of a captured step read on the device.
constexpr std::size_t kStagingBytes = 4 * sizeof(std::int32_t) + sizeof(std::int64_t);

}  // namespace

// The weights (TextWeights: embed, lm_head, final_norm, tied, layers) and what runs them.
struct CudaTextModel::Impl : TextWeights {
    engine::ModelConfig cfg;
    int device = 0;
    Stream stream;
    DeviceBuffer blas_workspace;  // before blas: it outlives the handle that points at it
    Blas blas{stream.get()};
    DeviceBuffer inv_freq, axis;
    DeviceBuffer tile_done, route_done, head_done;
    std::vector<DeviceBuffer> kc, vc;
    std::int64_t cap = 0, len = 0;
    KvDtype kv = kv_dtype_from_env();
    std::size_t kv_elem() const { return kv == KvDtype::bf16 ? 2 : 4; }
    std::unordered_map<std::string, DeviceBuffer> scratch;
    bool fused = fused_from_env();
    bool gemv = gemv_from_env();
    bool moe_device = moe_device_grouping_from_env();
    // The decode-step graph (DESKPILOT_CUDA_GRAPHS): captured once an eager batch-1 step has
    // sized the scratch (`decode_warm`), then replayed for every step while `graph_key` matches
    // key(); `staging` is the pinned token id + positions + KV length it copies, `graph_logits`
    // where its logits land.
    bool graphs = graphs_from_env();
    bool decode_warm = false;
    StepGraph graph;
    PinnedHost staging;
    // What a captured step holds besides its kernels' order: the kernel sequence (fused, KV type),
    // how they were launched (programmatic dependent launch, pdl.h) and every device pointer it
    // was captured with. `moved` counts the times a buffer a step may use was reallocated (a
    // scratch buffer grew, the KV cache was reallocated), so a replay never touches a freed
    // buffer.
    struct GraphKey {
        bool fused;
        bool gemv;
        KvDtype kv;
        std::uint64_t moved;
        bool pdl;         // k::pdl_launches(): the launches' attributes
        bool moe_device;  // DESKPILOT_CUDA_MOE=grouped steps: where the grouping runs
        bool operator==(const GraphKey&) const = default;
    };
    std::uint64_t moved = 0;
    GraphKey graph_key{};
    float* graph_logits = nullptr;
    GraphKey key() const { return {fused, gemv, kv, moved, k::pdl_launches(), moe_device}; }

    // y = rms_norm(x) as the bf16 GEMM input, and f32 into `h` where not null: one kernel, or
    // the unfused pair (DESKPILOT_CUDA_FUSED=0; `h` then always written).
    void norm_bf16(const float* x, const float* w, std::int64_t rows, std::int64_t d, float* h,
                   std::uint16_t* hb) {
        const float eps = float(cfg.text.rms_norm_eps);
        if (fused) return k::rms_norm_bf16(x, w, rows, d, eps, h, hb, s());
        h = h ? h : tmp<float>("h", rows * d);
        k::rms_norm(x, w, rows, d, eps, h, s());
        k::to_bf16(h, hb, rows * d, s());
    }
    // bf16(silu(gate) · up) for the down GEMM, in one kernel unless unfused.
    void silu_bf16(const float* gu, std::int64_t rows, std::int64_t F, std::uint16_t* ab) {
        if (fused) return k::silu_mul_bf16(gu, rows, F, ab, s());
        float* a = tmp<float>("act", rows * F);
        k::silu_mul(gu, rows, F, a, s());
        k::to_bf16(a, ab, rows * F, s());
    }
    // y[M, N] (+)= xb · W: one row through the matrix-vector kernel (when `gemv`), else cuBLAS.
    void linear(const std::uint16_t* xb, std::int64_t M, std::int64_t K, const std::uint16_t* w,
                Layout layout, std::int64_t N, std::int64_t ldw, float* y,
                bool accumulate = false) {
        if (gemv && M == 1)
            return k::gemv_bf16(xb, 0, K, w, 0, nullptr, layout == Layout::out_in, N, ldw, y, 0, 1,
                                accumulate, s());
        blas.linear(xb, M, K, w, layout, N, ldw, y, accumulate);
    }
    // x[M, N] += xb · W: accumulated into the f32 residual, or GEMM → k::add unfused.
    void linear_residual(const std::uint16_t* xb, std::int64_t M, std::int64_t K,
                         const std::uint16_t* w, Layout layout, std::int64_t N, std::int64_t ldw,
                         float* x) {
        if (fused) return linear(xb, M, K, w, layout, N, ldw, x, true);
        float* y = tmp<float>("residual branch", M * N);
        linear(xb, M, K, w, layout, N, ldw, y);
        k::add(x, y, M * N, s());
    }

    void* s() const { return stream.get(); }
    const std::uint16_t* head() const { return (tied ? embed : lm_head).as<const std::uint16_t>(); }

    template <typename T>
    T* tmp(const std::string& name, std::int64_t count) {
        DeviceBuffer& b = scratch[name];
        const std::size_t need = std::size_t(std::max<std::int64_t>(count, 1)) * sizeof(T);
        if (b.bytes() < need) {
            if (graph.capturing()) throw ScratchGrows{};
            stream.sync("scratch resize");
            moved += b.get() != nullptr;  // a new buffer is in no captured step
            b = DeviceBuffer(need, "scratch " + name);
        }
        return b.as<T>();
    }

    void init_workspaces() {
        blas_workspace = DeviceBuffer(kBlasWorkspace, "cuBLAS workspace");
        blas.set_workspace(blas_workspace.get(), blas_workspace.bytes());
        // The fused MoE kernels' finished-block counters (gemv.h): zero, and left zero by them.
        tile_done = DeviceBuffer(std::size_t(cfg.text.hidden_size / k::kGemvTileCols + 1) * 4,
                                 "MoE combine counters");
        tile_done.zero();
        route_done = DeviceBuffer(4, "MoE router counter");
        route_done.zero();
        // The decode attention's per-head counters (its last split block per head merges).
        head_done = DeviceBuffer(std::size_t(cfg.text.num_heads) * 4, "attention merge counters");
        head_done.zero();
    }
    // A step the graph can hold: one text token, no image features, and no host round trip (the
    // MoE layers' grouped decode groups on the host where device grouping is off or cannot take
    // the layer's shapes).
    bool capturable(std::span<const std::int32_t> ids,
                    const engine::VisualInjection* visual) const {
        if (ids.size() != 1 || (visual && visual->tokens > 0)) return false;
        if (!grouped_decode) return true;
        return std::all_of(layers.begin(), layers.end(),
                           [this](const auto& l) { return !l.moe || device_grouping(l); });
    }
    // Whether an MoE layer's grouped pass (prefill, or DESKPILOT_CUDA_MOE=grouped decode) groups
    // on the device (moe_grouped.h): when chosen and its kernels take the layer's shapes.
    bool device_grouping(const LayerWeights& ly) const {
        const std::int64_t H = cfg.text.hidden_size, F = ly.width;
        const bool in_out = ly.layout == Layout::in_out;
        return moe_device &&
               k::moe_grouped_supports(H, 2 * F, in_out ? 2 * F : H, int(ly.experts)) &&
               k::moe_grouped_supports(F, H, in_out ? H : F, int(ly.experts));
    }

    void init_rope() {
        const auto& c = cfg.text;
        const engine::cpu::Rope rope(c.head_dim, c.rope_theta, c.mrope_section,
                                     c.mrope_interleaved);
        std::vector<std::int32_t> ax(rope.inv_freq.size());
        for (std::size_t j = 0; j < ax.size(); ++j) ax[j] = rope.axis(int(j));
        inv_freq = f32_buffer(rope.inv_freq, "rope inv_freq");
        axis = DeviceBuffer(ax.size() * 4, "rope axis");
        axis.upload(ax.data(), axis.bytes());
    }

    void run_layers(std::span<const std::int32_t> ids, const engine::Positions& pos, float* x,
                    const engine::VisualInjection* visual);
    void moe(int l, float* x, std::int64_t S);
    void dense_mlp(const LayerWeights& ly, float* x, std::int64_t S);
    void decode_moe(const LayerWeights& ly, float* x, const std::uint16_t* hb,
                    const std::int32_t* idx_d, const float* wt_d);
    void moe_on_device(const LayerWeights& ly, float* x, std::int64_t S, const std::uint16_t* hb,
                       const std::int32_t* idx_d, const float* wt_d);
    // DESKPILOT_CUDA_MOE=grouped: decode through the grouped path too (for comparison), grouped
    // where DESKPILOT_CUDA_MOE_GROUPING says.
    bool grouped_decode = [] {
        const char* v = std::getenv("DESKPILOT_CUDA_MOE");
        return v && std::string(v) == "grouped";
    }();
    // The checks a pass makes before it enqueues anything (a replayed step makes them too):
    // std::invalid_argument for bad positions or a token outside the vocabulary, CudaError for a
    // full cache; the cache is left as it was.
    void validate(std::span<const std::int32_t> ids, const engine::Positions& pos) const;
    // Writes a batch-1 step's staging (token id, positions, KV length `len`).
    void stage(std::int32_t id, const engine::Positions& pos);
    float* logits(std::span<const std::int32_t> ids, const engine::Positions& pos, bool all,
                  const engine::VisualInjection* visual = nullptr);
    float* run_logits(std::span<const std::int32_t> ids, const engine::Positions& pos, bool all,
                      const engine::VisualInjection* visual);
};

CudaTextModel::CudaTextModel() = default;
CudaTextModel::~CudaTextModel() = default;

namespace {

std::unique_ptr<CudaTextModel::Impl> upload_impl(const engine::ModelConfig& cfg,
                                                 const engine::Checkpoint& ck,
                                                 const std::string& prefix, bool fused_experts,
                                                 int device) {
    require_device(device);
    check(cudaSetDevice(device), "cudaSetDevice");
    auto m = std::make_unique<CudaTextModel::Impl>();
    m->cfg = cfg;
    m->device = device;
    static_cast<TextWeights&>(*m) = upload_text_weights(cfg, ck, prefix, fused_experts);
    m->init_rope();
    m->init_workspaces();
    return m;
}

}  // namespace

CudaTextModel::CudaTextModel(const engine::Qwen3MoeTextModel& model, const engine::Checkpoint& ck,
                             int device)
    : impl_(upload_impl(model.config(), ck, model.tensor_prefix(), model.fused_experts(), device)) {
}

CudaTextModel::CudaTextModel(const engine::Qwen25TextModel& model, const engine::Checkpoint& ck,
                             int device)
    : impl_(upload_impl(model.config(), ck, model.tensor_prefix(), false, device)) {}

std::unique_ptr<CudaTextModel> CudaTextModel::upload(const engine::TextDecoder& cpu,
                                                     const engine::Checkpoint& ck, int device) {
    if (const auto* q3 = dynamic_cast<const engine::Qwen3MoeTextModel*>(&cpu))
        return std::make_unique<CudaTextModel>(*q3, ck, device);
    if (const auto* q25 = dynamic_cast<const engine::Qwen25TextModel*>(&cpu))
        return std::make_unique<CudaTextModel>(*q25, ck, device);
    throw CudaError(std::string("the CUDA decoder has no recipe for ") +
                    engine::architecture_name(cpu.config().architecture) + " checkpoints");
}

std::unique_ptr<CudaTextModel> CudaTextModel::synthetic(const engine::ModelConfig& config,
                                                        std::uint64_t seed, int device) {
    require_device(device);
    check(cudaSetDevice(device), "cudaSetDevice");
    std::unique_ptr<CudaTextModel> model(new CudaTextModel());
    model->impl_ = std::make_unique<Impl>();
    Impl& m = *model->impl_;
    m.cfg = config;
    m.device = device;
    static_cast<TextWeights&>(m) = synthetic_text_weights(config, seed, m.stream);
    m.init_rope();
    m.init_workspaces();
    m.stream.sync("synthetic weights");
    return model;
}

const engine::ModelConfig& CudaTextModel::config() const {
    return impl_->cfg;
}
std::int64_t CudaTextModel::length() const {
    return impl_->len;
}
std::int64_t CudaTextModel::capacity() const {
    return impl_->cap;
}
KvDtype CudaTextModel::kv_dtype() const {
    return impl_->kv;
}
void CudaTextModel::set_kv_dtype(KvDtype dtype) {
    Impl& m = *impl_;
    if (dtype == m.kv) return;
    m.stream.sync("KV cache type change");
    m.kc.clear();
    m.vc.clear();
    m.cap = m.len = 0;
    m.kv = dtype;
    ++m.moved;
}
bool CudaTextModel::fused() const {
    return impl_->fused;
}
void CudaTextModel::set_fused(bool fused) {
    impl_->fused = fused;
}
bool CudaTextModel::graphs() const {
    return impl_->graphs;
}
void CudaTextModel::set_graphs(bool graphs) {
    impl_->graphs = graphs;
}
bool CudaTextModel::gemv() const {
    return impl_->gemv;
}
void CudaTextModel::set_gemv(bool gemv) {
    impl_->gemv = gemv;
}
bool CudaTextModel::moe_device_grouping() const {
    return impl_->moe_device;
}
void CudaTextModel::set_moe_device_grouping(bool device) {
    impl_->moe_device = device;
}
GraphCounts CudaTextModel::graph_counts() const {
    return impl_->graph.counts();
}

void CudaTextModel::rewind(std::int64_t length) {
    if (length < 0 || length > impl_->len)
        throw std::invalid_argument("rewind to " + std::to_string(length) +
                                    " tokens, but the CUDA KV cache holds " +
                                    std::to_string(impl_->len));
    impl_->len = length;
}

void CudaTextModel::reserve(std::int64_t capacity) {
    Impl& m = *impl_;
    if (capacity <= m.cap) return;
    check(cudaSetDevice(m.device), "cudaSetDevice");
    const auto& c = m.cfg.text;
    const std::size_t row = std::size_t(c.head_dim) * m.kv_elem(),
                      bytes = std::size_t(c.num_kv_heads) * std::size_t(capacity) * row;
    std::vector<DeviceBuffer> kc, vc;
    for (int l = 0; l < c.num_layers; ++l) {
        kc.emplace_back(bytes, "KV cache K, layer " + std::to_string(l));
        vc.emplace_back(bytes, "KV cache V, layer " + std::to_string(l));
        // [kv_heads][capacity][head_dim]: each head's cached rows move to the wider pitch.
        if (m.len > 0)
            for (auto [dst, src] : {std::pair{&kc.back(), &m.kc[std::size_t(l)]},
                                    std::pair{&vc.back(), &m.vc[std::size_t(l)]}})
                check(cudaMemcpy2DAsync(dst->get(), std::size_t(capacity) * row, src->get(),
                                        std::size_t(m.cap) * row, std::size_t(m.len) * row,
                                        std::size_t(c.num_kv_heads), cudaMemcpyDeviceToDevice,
                                        static_cast<cudaStream_t>(m.s())),
                      "copy KV cache");
    }
    m.stream.sync("KV cache grow");
    m.kc = std::move(kc);
    m.vc = std::move(vc);
    m.cap = capacity;
    ++m.moved;
}
void CudaTextModel::synchronize() const {
    impl_->stream.sync("synchronize");
}

void CudaTextModel::reset(std::int64_t capacity) {
    Impl& m = *impl_;
    const auto& c = m.cfg.text;
    capacity = std::max<std::int64_t>(capacity, 1);
    m.len = 0;
    if (capacity <= m.cap) return;
    m.stream.sync("KV cache reset");
    m.kc.clear();
    m.vc.clear();
    ++m.moved;
    const std::size_t bytes =
        std::size_t(c.num_kv_heads) * std::size_t(capacity) * std::size_t(c.head_dim) * m.kv_elem();
    for (int l = 0; l < c.num_layers; ++l) {
        m.kc.emplace_back(bytes, "KV cache K, layer " + std::to_string(l));
        m.vc.emplace_back(bytes, "KV cache V, layer " + std::to_string(l));
    }
    m.cap = capacity;
}

std::size_t CudaTextModel::weight_bytes() const {
    return cuda::weight_bytes(*impl_);
}

std::size_t CudaTextModel::decode_bytes_per_token() const {
    const Impl& m = *impl_;
    const auto& c = m.cfg.text;
    const std::size_t H = std::size_t(c.hidden_size);
    std::size_t n = std::size_t(c.vocab_size) * H * 2 + H * 2;  // lm head + one embedding row
    for (const auto& ly : m.layers) {
        n += ly.q.bytes() + ly.k.bytes() + ly.v.bytes() + ly.o.bytes() + ly.router.bytes() +
             ly.q_bias.bytes() + ly.k_bias.bytes() + ly.v_bias.bytes();
        const std::size_t k = ly.moe ? std::size_t(c.num_experts_per_tok) : 1;
        n += k * (ly.gate_up.bytes() + ly.down.bytes()) / std::size_t(ly.experts);
        n += 2 * std::size_t(c.num_kv_heads) * std::size_t(m.len) * std::size_t(c.head_dim) *
             m.kv_elem();
    }
    return n;
}

// One token: its K experts' products as launches that read each slot's expert from the routing
// result on the device (the matrix-vector kernels, or batched cuBLAS calls whose weight pointers a
// kernel picks), so the step never waits for the host. Fused with in_out experts (the Hub's
// layout) that is two launches: gate/up, then down with SwiGLU and the combine folded in.
void CudaTextModel::Impl::decode_moe(const LayerWeights& ly, float* x, const std::uint16_t* hb,
                                     const std::int32_t* idx_d, const float* wt_d) {
    const auto& c = cfg.text;
    const std::int64_t H = c.hidden_size, F = ly.width;
    const int K = c.num_experts_per_tok;
    const bool in_out = ly.layout == Layout::in_out;
    float* gu = tmp<float>("gu", K * 2 * F);
    std::uint16_t* ab = tmp<std::uint16_t>("act bf16", K * F);
    float* dn = tmp<float>("down", K * H);
    if (gemv) {
        // Each slot's expert read on the device: K matrix-vector products per launch.
        k::gemv_bf16(hb, 0, H, ly.gate_up.as<std::uint16_t>(), 2 * F * H, idx_d, !in_out, 2 * F,
                     in_out ? 2 * F : H, gu, 2 * F, K, false, s());
        if (fused && in_out) {
            // The down kernel computes SwiGLU's activation as it reads it, and its last block per
            // column tile adds the experts' outputs into the residual.
            k::gemv_silu_combine_bf16(gu, 2 * F, F, ly.down.as<std::uint16_t>(), F * H, idx_d, H, H,
                                      dn, K, wt_d, x, tile_done.as<unsigned>(), s());
            return;
        }
        silu_bf16(gu, K, F, ab);
        k::gemv_bf16(ab, F, F, ly.down.as<std::uint16_t>(), F * H, idx_d, !in_out, H,
                     in_out ? H : F, dn, H, K, false, s());
    } else {
        void** p = tmp<void*>("moe pointers", 6 * K);
        k::moe_pointers(idx_d, K, ly.gate_up.as<std::uint16_t>(), 2 * F * H,
                        ly.down.as<std::uint16_t>(), F * H, hb, gu, 2 * F, ab, F, dn, H, p, s());
        blas.linear_batched(p + K, 1, H, p, ly.layout, 2 * F, in_out ? 2 * F : H, p + 2 * K, K);
        silu_bf16(gu, K, F, ab);
        blas.linear_batched(p + 4 * K, 1, F, p + 3 * K, ly.layout, H, in_out ? H : F, p + 5 * K, K);
    }
    k::moe_combine(x, dn, nullptr, wt_d, 1, K, H, s());
}

// x += down(silu(gate h) · up h), h = rms(x): one GEMM over the packed [gate | up] rows, no host
// round trip (the MoE path's routing and grouping would cost a sync per layer).
void CudaTextModel::Impl::dense_mlp(const LayerWeights& ly, float* x, std::int64_t S) {
    const auto& c = cfg.text;
    const std::int64_t H = c.hidden_size, F = ly.width;
    const bool in_out = ly.layout == Layout::in_out;
    std::uint16_t* ab = tmp<std::uint16_t>("act bf16", S * F);
    if (gemv && fused && S == 1 && !in_out && H <= k::kGemvNormMaxK) {
        // A decode step's gate/up normalises its own input (the norm prologue) and writes SwiGLU's
        // activation: one launch before the down GEMV.
        const k::GemvNorm norm{x, ly.post_norm.as<float>(), float(c.rms_norm_eps)};
        k::gemv_norm_swiglu_bf16(norm, H, ly.gate_up.as<std::uint16_t>(), F, H, ab, s());
    } else {
        std::uint16_t* hb = tmp<std::uint16_t>("hb", S * H);
        norm_bf16(x, ly.post_norm.as<float>(), S, H, nullptr, hb);
        float* gu = tmp<float>("gu", S * 2 * F);
        linear(hb, S, H, ly.gate_up.as<std::uint16_t>(), ly.layout, 2 * F, in_out ? 2 * F : H, gu);
        silu_bf16(gu, S, F, ab);
    }
    linear_residual(ab, S, F, ly.down.as<std::uint16_t>(), ly.layout, H, in_out ? H : F, x);
}

void CudaTextModel::Impl::moe(int l, float* x, std::int64_t S) {
    const auto& c = cfg.text;
    const LayerWeights& ly = layers[std::size_t(l)];
    const std::int64_t H = c.hidden_size, E = ly.experts, F = ly.width;
    const int K = ly.moe ? c.num_experts_per_tok : 1;
    // The f32 rows are read only by the host-grouped path's gather; a batched decode step needs
    // just the router's bf16 input and the device grouping the bf16 rows, so neither writes nor
    // sizes them (a captured step takes the same path as the eager one that sized its scratch: it
    // never asks for "h").
    const bool batched_decode = ly.moe && S == 1 && !grouped_decode;
    float* h = batched_decode || device_grouping(ly) ? nullptr : tmp<float>("h", S * H);
    std::uint16_t* hb = tmp<std::uint16_t>("hb", S * H);
    // A decode step's router GEMV normalises its own input (and leaves the row in hb for the
    // experts), and its last block chooses the experts: one launch.
    const bool route_in_gemv = batched_decode && gemv && fused && E <= k::kGemvRouteMaxExperts;
    const bool norm_in_router = route_in_gemv && H <= k::kGemvNormMaxK;
    if (!norm_in_router) norm_bf16(x, ly.post_norm.as<float>(), S, H, h, hb);
    std::int32_t* idx_d = tmp<std::int32_t>("idx", S * K);
    float* wt_d = tmp<float>("wt", S * K);
    std::vector<std::int32_t> idx;  // the choices on the host: sized only where the host groups
    if (ly.moe) {
        float* rl = tmp<float>("router", S * E);
        if (norm_in_router) {
            const k::GemvNorm norm{x, ly.post_norm.as<float>(), float(c.rms_norm_eps), hb};
            k::gemv_route_bf16(norm, H, ly.router.as<std::uint16_t>(), E, H, rl, K,
                               c.norm_topk_prob, idx_d, wt_d, route_done.as<unsigned>(), s());
        } else if (route_in_gemv) {
            k::gemv_route_bf16(hb, H, ly.router.as<std::uint16_t>(), E, H, rl, K, c.norm_topk_prob,
                               idx_d, wt_d, route_done.as<unsigned>(), s());
        } else {
            linear(hb, S, H, ly.router.as<std::uint16_t>(), Layout::out_in, E, H, rl);
            k::route_top_k(rl, S, E, K, c.norm_topk_prob, idx_d, wt_d, s());
        }
        if (batched_decode) {
            decode_moe(ly, x, hb, idx_d, wt_d);
            return;
        }
        if (device_grouping(ly)) {
            moe_on_device(ly, x, S, hb, idx_d, wt_d);
            return;
        }
        // The grouping below needs the choices on the host: one small copy per layer.
        idx.resize(std::size_t(S * K));
        check(cudaMemcpyAsync(idx.data(), idx_d, idx.size() * 4, cudaMemcpyDeviceToHost,
                              static_cast<cudaStream_t>(s())),
              "download expert choices");
        stream.sync("routing");
    } else {
        idx.assign(std::size_t(S * K), 0);
        k::fill_f32(wt_d, S * K, 1.0f, s());
    }
    // Each expert's rows contiguous, on the host (moe_grouping.h).
    const ExpertGrouping grouping = group_by_expert(idx, K, int(E), k::kMoeTileRows);
    const std::vector<std::int32_t>& count = grouping.offsets;
    std::int32_t* map_d = tmp<std::int32_t>("moe map", 2 * S * K);
    // The host vectors must outlive the asynchronous copy: wait for it.
    check(cudaMemcpyAsync(map_d, grouping.src.data(), grouping.src.size() * 4,
                          cudaMemcpyHostToDevice, static_cast<cudaStream_t>(s())),
          "upload expert rows");
    check(cudaMemcpyAsync(map_d + S * K, grouping.row_of.data(), grouping.row_of.size() * 4,
                          cudaMemcpyHostToDevice, static_cast<cudaStream_t>(s())),
          "upload expert rows");
    const std::int64_t n = S * K;
    std::uint16_t* xe = tmp<std::uint16_t>("xe", n * H);
    k::gather_rows_bf16(h, map_d, n, H, xe, s());
    float* gu = tmp<float>("gu", n * 2 * F);
    std::uint16_t* ab = tmp<std::uint16_t>("act bf16", n * F);
    float* dn = tmp<float>("down", n * H);
    const bool in_out = ly.layout == Layout::in_out;
    for (std::int64_t e = 0; e < E; ++e) {
        const std::int64_t off = count[std::size_t(e)], rows = count[std::size_t(e) + 1] - off;
        if (rows == 0) continue;  // experts no token chose are never read
        linear(xe + off * H, rows, H, ly.gate_up.as<std::uint16_t>() + e * 2 * F * H, ly.layout,
               2 * F, in_out ? 2 * F : H, gu + off * 2 * F);
    }
    silu_bf16(gu, n, F, ab);
    for (std::int64_t e = 0; e < E; ++e) {
        const std::int64_t off = count[std::size_t(e)], rows = count[std::size_t(e) + 1] - off;
        if (rows == 0) continue;
        linear(ab + off * F, rows, F, ly.down.as<std::uint16_t>() + e * F * H, ly.layout, H,
               in_out ? H : F, dn + off * H);
    }
    k::moe_combine(x, dn, map_d + S * K, wt_d, S, K, H, s());
    stream.sync("MoE block");  // keeps the grouping's vectors alive until their copies are done
}

// The grouped MoE on the device (moe_grouped.h): grouping, gate/up (with SwiGLU as its epilogue
// when fused), down and the combine, five launches and no host round trip. The gate/up product
// reads each row's normalised token from hb through the grouping's src: no gather.
void CudaTextModel::Impl::moe_on_device(const LayerWeights& ly, float* x, std::int64_t S,
                                        const std::uint16_t* hb, const std::int32_t* idx_d,
                                        const float* wt_d) {
    const auto& c = cfg.text;
    const std::int64_t H = c.hidden_size, F = ly.width, n = S * c.num_experts_per_tok;
    const int E = int(ly.experts);
    std::int32_t* map_d = tmp<std::int32_t>("moe map", 2 * n);              // src | row_of
    std::int32_t* groups_d = tmp<std::int32_t>("moe groups", 2 * (E + 1));  // offsets | tiles
    k::moe_group(idx_d, n, c.num_experts_per_tok, E, groups_d, groups_d + E + 1, map_d, map_d + n,
                 s());
    const k::MoeGroups groups{groups_d, groups_d + E + 1, E, k::moe_max_tiles(n, E)};
    const bool in_out = ly.layout == Layout::in_out;
    const k::MoeWeights gate_up{ly.gate_up.as<std::uint16_t>(), 2 * F * H, !in_out,
                                in_out ? 2 * F : H};
    const k::MoeWeights down{ly.down.as<std::uint16_t>(), F * H, !in_out, in_out ? H : F};
    std::uint16_t* ab = tmp<std::uint16_t>("act bf16", n * F);
    if (fused) {
        k::moe_gate_up_swiglu_bf16(hb, map_d, H, gate_up, F, groups, ab, s());
    } else {
        float* gu = tmp<float>("gu", n * 2 * F);
        k::moe_gemm_bf16(hb, map_d, H, gate_up, 2 * F, groups, gu, s());
        silu_bf16(gu, n, F, ab);
    }
    float* dn = tmp<float>("down", n * H);
    k::moe_gemm_bf16(ab, nullptr, F, down, H, groups, dn, s());
    k::moe_combine(x, dn, map_d + n, wt_d, S, c.num_experts_per_tok, H, s());
}

void CudaTextModel::Impl::run_layers(std::span<const std::int32_t> ids,
                                     const engine::Positions& pos, float* x,
                                     const engine::VisualInjection* visual) {
    const auto& c = cfg.text;
    const std::int64_t S = std::int64_t(ids.size()), H = c.hidden_size, D = c.head_dim,
                       NH = c.num_heads, KH = c.num_kv_heads;
    validate(ids, pos);
    std::vector<std::int32_t> hp(std::size_t(3 * S));
    for (std::int64_t i = 0; i < S; ++i) {
        hp[std::size_t(i)] = std::int32_t(pos.t[std::size_t(i)]);
        hp[std::size_t(S + i)] = std::int32_t(pos.h[std::size_t(i)]);
        hp[std::size_t(2 * S + i)] = std::int32_t(pos.w[std::size_t(i)]);
    }
    // A batch-1 step's scratch also holds its KV length (kStagingBytes: 6 int32).
    std::int32_t* ids_d = tmp<std::int32_t>("ids", std::max<std::int64_t>(4 * S, 6));
    // Where a captured step's *_decode kernels read the KV length (written by the copy below).
    const auto* past_d = reinterpret_cast<const std::int64_t*>(ids_d + 4);
    // A captured step reads `past` on the device, so its graph replays unchanged (graph.h).
    const bool device_past = graph.capturing();
    if (S == 1) {
        // Through pinned memory (what a captured step can copy from): id, t, h, w, past. The
        // previous step's copy has finished: every forward waits for its stream before returning.
        if (!staging.as<void>()) {
            if (graph.capturing()) throw ScratchGrows{};
            staging = PinnedHost(kStagingBytes);
        }
        stage(ids[0], pos);
        check(cudaMemcpyAsync(ids_d, staging.as<void>(), kStagingBytes, cudaMemcpyHostToDevice,
                              static_cast<cudaStream_t>(s())),
              "upload token id, positions and KV length");
    } else {
        check(cudaMemcpyAsync(ids_d, ids.data(), std::size_t(S) * 4, cudaMemcpyHostToDevice,
                              static_cast<cudaStream_t>(s())),
              "upload token ids");
        check(cudaMemcpyAsync(ids_d + S, hp.data(), hp.size() * 4, cudaMemcpyHostToDevice,
                              static_cast<cudaStream_t>(s())),
              "upload positions");
    }
    k::embed_gather(embed.as<std::uint16_t>(), ids_d, S, H, x, s());
    // Image features: the image tokens come in runs (one per image), so the merged rows replace
    // and the DeepStack rows add per run, with no scatter kernel.
    struct Run {
        std::int64_t start, count, feature;  // token row, rows, first feature row
    };
    std::vector<Run> runs;
    std::int64_t n_img = 0;
    for (std::int64_t i = 0; i < S; ++i) {
        if (ids[std::size_t(i)] != cfg.image_token_id) continue;
        if (runs.empty() || runs.back().start + runs.back().count != i)
            runs.push_back({i, 0, n_img});
        ++runs.back().count;
        ++n_img;
    }
    // Without features, image tokens embed like text, as on the CPU.
    if (visual && visual->tokens != n_img)
        throw std::invalid_argument("forward: " + std::to_string(n_img) +
                                    " image tokens but features for " +
                                    std::to_string(visual->tokens));
    const bool inject = visual && n_img > 0;
    const std::int64_t levels = inject ? std::int64_t(visual->deepstack.size()) : 0;
    float* feat = inject ? tmp<float>("image features", (1 + levels) * n_img * H) : nullptr;
    if (inject) {
        check(cudaMemcpyAsync(feat, visual->merged, std::size_t(n_img * H) * sizeof(float),
                              cudaMemcpyHostToDevice, static_cast<cudaStream_t>(s())),
              "upload image features");
        for (std::int64_t d = 0; d < levels; ++d)
            check(cudaMemcpyAsync(feat + (1 + d) * n_img * H, visual->deepstack[std::size_t(d)],
                                  std::size_t(n_img * H) * sizeof(float), cudaMemcpyHostToDevice,
                                  static_cast<cudaStream_t>(s())),
                  "upload DeepStack features");
        for (const Run& r : runs)
            check(cudaMemcpyAsync(x + r.start * H, feat + r.feature * H,
                                  std::size_t(r.count * H) * sizeof(float),
                                  cudaMemcpyDeviceToDevice, static_cast<cudaStream_t>(s())),
                  "place image features");
    }
    const std::int64_t past = len;
    // Split-K for decode: enough blocks to fill the GPU when one query meets a long cache (a
    // captured step launches k::kMaxSplits and picks the same number on the device).
    const int splits = S == 1 ? k::decode_splits(past) : 1;
    std::uint16_t* hb = tmp<std::uint16_t>("hb", S * std::max(H, NH * D));
    float* q = tmp<float>("q", S * NH * D);
    float* kk = tmp<float>("k", S * KH * D);
    float* v = tmp<float>("v", S * KH * D);
    float* att = tmp<float>("att", S * NH * D);
    // Prefill takes the flash kernel where it is compiled for D; decode (and other head dims) the
    // split-K kernel, whose scratch grows with S·heads·D and so is only made for it.
    const bool flash = S > 1 && k::flash_attention_supports(D);
    // Decode sizes it for the most splits at once, so a longer cache never grows it mid-capture.
    float* sc = flash ? nullptr
                      : tmp<float>("att scratch", k::attention_scratch_floats(
                                                      S, NH, D, S == 1 ? k::kMaxSplits : splits));
    const float eps = float(c.rms_norm_eps);
    for (int l = 0; l < c.num_layers; ++l) {
        // A prefill stops within one layer of a cancel (decode steps are checked between tokens);
        // `len` advances only after the last layer, so rows a stopped pass appended don't count.
        if (S > 1) stop_point(stream, "prefill layer");
        const LayerWeights& ly = layers[std::size_t(l)];
        const bool stacked = gemv && S == 1;  // decode: q, k and v in one launch
        // ... which normalises its own input when fused (the norm prologue).
        const bool norm_in_qkv = stacked && fused && H <= k::kGemvNormMaxK;
        if (!norm_in_qkv) norm_bf16(x, ly.input_norm.as<float>(), S, H, nullptr, hb);
        if (stacked) {
            // Qwen2's biases as the kernel's epilogue when fused (add_bias_qkv's bits).
            const bool bias = c.attention_bias && fused;
            const k::GemvPart qkv[3] = {
                {ly.q.as<std::uint16_t>(), NH * D, H, q, bias ? ly.q_bias.as<float>() : nullptr},
                {ly.k.as<std::uint16_t>(), KH * D, H, kk, bias ? ly.k_bias.as<float>() : nullptr},
                {ly.v.as<std::uint16_t>(), KH * D, H, v, bias ? ly.v_bias.as<float>() : nullptr}};
            if (norm_in_qkv)
                k::gemv_bf16_stacked(k::GemvNorm{x, ly.input_norm.as<float>(), eps}, H, qkv, 3,
                                     s());
            else
                k::gemv_bf16_stacked(hb, H, qkv, 3, s());
        } else {
            linear(hb, S, H, ly.q.as<std::uint16_t>(), Layout::out_in, NH * D, H, q);
            linear(hb, S, H, ly.k.as<std::uint16_t>(), Layout::out_in, KH * D, H, kk);
            linear(hb, S, H, ly.v.as<std::uint16_t>(), Layout::out_in, KH * D, H, v);
        }
        if (c.attention_bias && fused && !stacked) {  // Qwen2 (the stacked kernel adds them)
            k::add_bias_qkv(q, ly.q_bias.as<float>(), NH * D, kk, ly.k_bias.as<float>(), v,
                            ly.v_bias.as<float>(), KH * D, S, s());
        } else if (c.attention_bias && !fused) {
            k::add_bias(q, ly.q_bias.as<float>(), S, NH * D, s());
            k::add_bias(kk, ly.k_bias.as<float>(), S, KH * D, s());
            k::add_bias(v, ly.v_bias.as<float>(), S, KH * D, s());
        }
        const float* qn = c.qk_norm ? ly.q_norm.as<float>() : nullptr;
        const float* kn = c.qk_norm ? ly.k_norm.as<float>() : nullptr;
        // A decode step also appends k and v to the caches in that launch (attend).
        const bool append_in_rope = fused && S == 1;
        if (fused) {  // q/k norm (Qwen3) and the rotary of q and k: one launch
            if (!append_in_rope)
                k::qk_norm_rope(q, kk, S, NH, KH, D / 2, qn, kn, eps, ids_d + S,
                                inv_freq.as<float>(), axis.as<std::int32_t>(), s());
        } else {
            if (c.qk_norm) {  // Qwen3
                k::rms_norm(q, ly.q_norm.as<float>(), S * NH, D, eps, q, s());
                k::rms_norm(kk, ly.k_norm.as<float>(), S * KH, D, eps, kk, s());
            }
            k::rope(q, S, NH, D / 2, ids_d + S, inv_freq.as<float>(), axis.as<std::int32_t>(), s());
            k::rope(kk, S, KH, D / 2, ids_d + S, inv_freq.as<float>(), axis.as<std::int32_t>(),
                    s());
        }
        auto attend = [&](auto* kcl, auto* vcl) {
            const float scale = 1.0f / std::sqrt(float(D));
            if (device_past) {  // a captured decode step (S == 1, never flash)
                if (append_in_rope)
                    k::qk_norm_rope_append_decode(q, kk, v, NH, KH, D / 2, qn, kn, eps, ids_d + S,
                                                  inv_freq.as<float>(), axis.as<std::int32_t>(),
                                                  kcl, vcl, cap, past_d, s());
                else
                    k::kv_append_decode(kk, v, KH, D, kcl, vcl, cap, past_d, s());
                if (fused) {  // one launch: the last split block of each head merges
                    k::attention_decode(q, past_d, NH, KH, D, kcl, vcl, cap, scale, k::kMaxSplits,
                                        sc, hb, s(), head_done.as<unsigned>());
                } else {
                    k::attention_decode(q, past_d, NH, KH, D, kcl, vcl, cap, scale, k::kMaxSplits,
                                        sc, att, s());
                    k::to_bf16(att, hb, S * NH * D, s());
                }
                return;
            }
            if (append_in_rope)
                k::qk_norm_rope_append(q, kk, v, NH, KH, D / 2, qn, kn, eps, ids_d + S,
                                       inv_freq.as<float>(), axis.as<std::int32_t>(), kcl, vcl, cap,
                                       past, s());
            else
                k::kv_append(kk, v, S, KH, D, kcl, vcl, cap, past, s());
            if (flash) {
                k::flash_attention_causal(q, S, past, NH, KH, D, kcl, vcl, cap, scale, att, s());
                k::to_bf16(att, hb, S * NH * D, s());
            } else if (fused) {  // the split-K merge writes the o_proj input as bf16
                // A decode step's last split block of each head merges, in the same launch.
                k::attention(q, S, past, NH, KH, D, kcl, vcl, cap, scale, splits, sc, hb, s(),
                             S == 1 ? head_done.as<unsigned>() : nullptr);
            } else {
                k::attention(q, S, past, NH, KH, D, kcl, vcl, cap, scale, splits, sc, att, s());
                k::to_bf16(att, hb, S * NH * D, s());
            }
        };
        if (kv == KvDtype::bf16)
            attend(kc[std::size_t(l)].as<std::uint16_t>(), vc[std::size_t(l)].as<std::uint16_t>());
        else
            attend(kc[std::size_t(l)].as<float>(), vc[std::size_t(l)].as<float>());
        linear_residual(hb, S, NH * D, ly.o.as<std::uint16_t>(), Layout::out_in, H, NH * D, x);
        if (ly.moe)
            moe(l, x, S);
        else
            dense_mlp(ly, x, S);
        if (l < levels)  // DeepStack: after layer l, as Qwen3MoeTextModel::forward
            for (const Run& r : runs)
                k::add(x + r.start * H, feat + ((1 + l) * n_img + r.feature) * H, r.count * H, s());
    }
    len += S;
}

void CudaTextModel::Impl::validate(std::span<const std::int32_t> ids,
                                   const engine::Positions& pos) const {
    const auto& c = cfg.text;
    const std::int64_t S = std::int64_t(ids.size());
    if (S == 0) throw std::invalid_argument("forward: no tokens");
    if (pos.size() != ids.size())
        throw std::invalid_argument("forward: " + std::to_string(ids.size()) +
                                    " tokens but positions for " + std::to_string(pos.size()));
    if (pos.h.size() != ids.size() || pos.w.size() != ids.size())
        throw std::invalid_argument("forward: positions need t, h and w for each token");
    if (len + S > cap)
        throw CudaError("CUDA KV cache holds " + std::to_string(cap) + " tokens; " +
                        std::to_string(len) + " cached + " + std::to_string(S) +
                        " new do not fit (reset with a larger capacity)");
    for (const std::int32_t id : ids)
        if (id < 0 || id >= c.vocab_size)
            throw std::invalid_argument("token id " + std::to_string(id) +
                                        " is outside the vocabulary of " +
                                        std::to_string(c.vocab_size));
}

void CudaTextModel::Impl::stage(std::int32_t id, const engine::Positions& pos) {
    auto* st = staging.as<std::int32_t>();
    st[0] = id;
    st[1] = std::int32_t(pos.t[0]);
    st[2] = std::int32_t(pos.h[0]);
    st[3] = std::int32_t(pos.w[0]);
    *reinterpret_cast<std::int64_t*>(st + 4) = len;
}

// The logits of a pass, enqueued on the stream: eagerly, or for a batch-1 decode step with
// graphs on, as the step graph: captured (and launched) the first time and whenever key()
// changed, else replayed as is with the new token id, positions and KV length staged. Decode
// steps have no stop point inside (a cancel is checked between tokens), so a graph step loses no
// way to stop.
float* CudaTextModel::Impl::logits(std::span<const std::int32_t> ids, const engine::Positions& pos,
                                   bool all, const engine::VisualInjection* visual) {
    check(cudaSetDevice(device), "cudaSetDevice");
    const bool decode = capturable(ids, visual);
    if (!graphs || !decode || !decode_warm) {
        float* lg = run_logits(ids, pos, all, visual);
        decode_warm = decode_warm || decode;
        return lg;
    }
    if (graph.ready() && graph_key == key()) {
        // The run_layers checks, then only the staging: the graph reads it when it runs (the
        // previous step's copy is done: every forward waits for its stream before returning).
        validate(ids, pos);
        stage(ids[0], pos);
        graph.replay(s(), "decode step");
        ++len;
        return graph_logits;
    }
    validate(ids, pos);               // a bad token or a full cache opens no capture
    const std::int64_t len0 = len;    // run_layers advances it; a step not run must not
    const GraphKey captured = key();  // no buffer grows inside a capture (ScratchGrows)
    graph.begin(s(), "decode step");
    try {
        float* lg = run_logits(ids, pos, all, visual);
        graph.end_and_launch(s(), "decode step");
        graph_key = captured;
        graph_logits = lg;
        return lg;
    } catch (const ScratchGrows&) {
        graph.abandon(s());
        len = len0;
    } catch (...) {
        graph.abandon(s());
        len = len0;
        throw;
    }
    return run_logits(ids, pos, all, visual);  // grows the scratch; the next step is captured
}

float* CudaTextModel::Impl::run_logits(std::span<const std::int32_t> ids,
                                       const engine::Positions& pos, bool all,
                                       const engine::VisualInjection* visual) {
    const auto& c = cfg.text;
    const std::int64_t S = std::int64_t(ids.size()), H = c.hidden_size;
    float* x = tmp<float>("x", S * H);
    run_layers(ids, pos, x, visual);
    const std::int64_t rows = all ? S : 1;
    std::uint16_t* hb = tmp<std::uint16_t>("hn bf16", rows * H);
    norm_bf16(x + (S - rows) * H, final_norm.as<float>(), rows, H, nullptr, hb);
    float* lg = tmp<float>("logits", rows * c.vocab_size);
    linear(hb, rows, H, head(), Layout::out_in, c.vocab_size, H, lg);
    return lg;
}

std::vector<float> CudaTextModel::forward(std::span<const std::int32_t> ids,
                                          const engine::Positions& pos, bool all_logits,
                                          const engine::VisualInjection* visual) {
    Impl& m = *impl_;
    const float* lg = m.logits(ids, pos, all_logits, visual);
    std::vector<float> out(
        std::size_t((all_logits ? std::int64_t(ids.size()) : 1) * m.cfg.text.vocab_size));
    check(cudaMemcpyAsync(out.data(), lg, out.size() * 4, cudaMemcpyDeviceToHost,
                          static_cast<cudaStream_t>(m.s())),
          "download logits");
    m.stream.sync("forward");
    return out;
}

std::int32_t CudaTextModel::forward_greedy(std::span<const std::int32_t> ids,
                                           const engine::Positions& pos) {
    Impl& m = *impl_;
    const float* lg = m.logits(ids, pos, false);
    std::int32_t* id_d = m.tmp<std::int32_t>("argmax", 1);
    k::argmax(lg, 1, m.cfg.text.vocab_size, id_d, m.s());
    std::int32_t id = 0;
    check(cudaMemcpyAsync(&id, id_d, 4, cudaMemcpyDeviceToHost, static_cast<cudaStream_t>(m.s())),
          "download token");
    m.stream.sync("forward_greedy");
    return id;
}

std::int32_t CudaTextModel::forward_sample(std::span<const std::int32_t> ids,
                                           const engine::Positions& pos, float temperature,
                                           float top_p, float u) {
    Impl& m = *impl_;
    const float* lg = m.logits(ids, pos, false);
    const std::int64_t V = m.cfg.text.vocab_size;
    float* p = m.tmp<float>("probabilities", V);
    std::int32_t* id_d = m.tmp<std::int32_t>("argmax", 1);
    float* info = m.tmp<float>("top-p info", 2);
    k::sample_top_p(lg, V, temperature, top_p, u, p, id_d, info, m.s());
    std::int32_t id = 0;
    check(cudaMemcpyAsync(&id, id_d, 4, cudaMemcpyDeviceToHost, static_cast<cudaStream_t>(m.s())),
          "download token");
    m.stream.sync("forward_sample");
    return id;
}

engine::GenerateResult generate(CudaTextModel& model, std::span<const std::int32_t> prompt,
                                const engine::GenerateOptions& options,
                                const std::function<bool(std::int32_t)>& on_token) {
    if (prompt.empty()) throw std::invalid_argument("generate: the prompt is empty");
    if (options.max_new_tokens < 0)
        throw std::invalid_argument("generate: max_new_tokens must be >= 0");
    using clock = std::chrono::steady_clock;
    engine::GenerateResult r;
    r.prompt_tokens = std::int64_t(prompt.size());
    engine::Sampler sampler(options.sampling);  // validates the options
    std::mt19937_64 rng(options.sampling.seed);
    std::uniform_real_distribution<float> draw(0.0f, 1.0f);
    const bool greedy = options.sampling.temperature == 0.0f;
    model.reset(std::int64_t(prompt.size()) + options.max_new_tokens + 1);
    auto t0 = clock::now();
    r.prompt_logits =
        model.forward(prompt, engine::Positions::text(0, std::int64_t(prompt.size())));
    r.prefill_seconds = std::chrono::duration<double>(clock::now() - t0).count();
    const auto& pl = r.prompt_logits;
    std::int32_t next =
        greedy ? std::int32_t(std::max_element(pl.begin(), pl.end()) - pl.begin())
               : sample_top_p_cpu(pl.data(), std::int64_t(pl.size()), options.sampling.temperature,
                                  options.sampling.top_p, draw(rng))
                     .id;
    t0 = clock::now();
    for (int i = 0; i < options.max_new_tokens; ++i) {
        const std::int32_t id = next;
        r.tokens.push_back(id);
        const bool stop = std::find(options.stop_ids.begin(), options.stop_ids.end(), id) !=
                          options.stop_ids.end();
        if (on_token && !on_token(id)) break;
        if (stop) {
            r.stopped = true;
            break;
        }
        if (i + 1 == options.max_new_tokens) break;
        const std::int32_t one[1] = {id};
        const auto pos = engine::Positions::text(model.length(), 1);
        next = greedy ? model.forward_greedy(one, pos)
                      : model.forward_sample(one, pos, options.sampling.temperature,
                                             options.sampling.top_p, draw(rng));
    }
    r.decode_seconds = std::chrono::duration<double>(clock::now() - t0).count();
    return r;
}

}  // namespace deskpilot::model::cuda
