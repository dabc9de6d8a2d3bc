#include "model/engine/cuda/vision_qwen2_5.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/engine/cuda/flash_attention.h"
#include "model/engine/cuda/stop_point.h"
#include "model/engine/cuda/vision_common.h"
#include "model/engine/vision/qwen2_5_vision.h"

namespace deskpilot::model::cuda {

// Named (not anonymous): Impl's members use them; not vision_tower::, whose Block is Qwen3's.
namespace vision_qwen2_5 {

using vision_tower::Linear;

constexpr float kEps = 1e-6f;  // every RMSNorm of the tower (as the CPU tower)

struct Block {
    DeviceBuffer norm1, norm2;  // f32 [hid]
    Linear qkv, proj;
    Linear gate_up;  // gate rows, then up rows: [2I, hid], bias [2I] (one GEMM, then k::silu_mul)
    Linear down;
};

// gate_proj and up_proj packed into one Linear: gate rows, then up rows.
Linear upload_gate_up(vision_tower::TowerWeights& W, const std::string& b, std::int64_t I,
                      std::int64_t hid) {
    Linear l;
    l.out = 2 * I;
    l.in = hid;
    l.w = W.bf16({b + "mlp.gate_proj.weight", b + "mlp.up_proj.weight"}, {I, hid});
    l.b = W.f32({b + "mlp.gate_proj.bias", b + "mlp.up_proj.bias"}, I);
    return l;
}

// The config checks both constructors make before anything is read or allocated; the window's
// side in merged patches.
int checked_window(const engine::ModelConfig& config) {
    const engine::VisionConfig& vc =
        vision_tower::require_architecture(config, engine::Architecture::qwen2_5_vl, "Qwen2.5-VL");
    const std::int64_t hd = vc.hidden_size / vc.num_heads, p = vc.patch_size,
                       m = vc.spatial_merge_size;
    const int window = int(vc.window_size / m / p);
    if (window < 1)
        throw engine::ConfigError("vision_config.window_size " + std::to_string(vc.window_size) +
                                  " is smaller than one merged patch (" + std::to_string(m * p) +
                                  " px)");
    for (int b : vc.fullatt_block_indexes)
        if (b < 0 || b >= vc.depth)
            throw engine::ConfigError("vision_config.fullatt_block_indexes names block " +
                                      std::to_string(b) + " of " + std::to_string(vc.depth));
    if (hd % 4 != 0 || !k::flash_attention_supports(hd))
        throw CudaError("CUDA vision tower: head_dim " + std::to_string(hd) +
                        " is not supported (a multiple of 4 the flash kernel is built for)");
    return window;
}

}  // namespace vision_qwen2_5
using namespace vision_qwen2_5;

struct CudaQwen25Vision::Impl : vision_tower::Runner {
    engine::VisionConfig vc;
    int window = 0;  // merged patches per window side
    DeviceBuffer inv_freq;
    Linear patch;  // the full Conv3d weight [hid, 3·tp·p·p] as one GEMM, no bias
    std::vector<Block> blocks;
    DeviceBuffer merger_norm;
    Linear merger_fc1, merger_fc2;

    void block(const Block& b, float* x, std::int64_t S, const std::int32_t* pos,
               const std::int32_t* seg, std::int64_t n_seg);
};

CudaQwen25Vision::CudaQwen25Vision(const engine::ModelConfig& config, const engine::Checkpoint& ck,
                                   int device) {
    checked_window(config);
    const engine::vblocks::VisionWeights W(ck);  // validates names and shapes
    vision_tower::CheckpointTowerWeights source(W);
    build(config, source, device);
}

CudaQwen25Vision::CudaQwen25Vision(const engine::ModelConfig& config,
                                   vision_tower::TowerWeights& weights, int device) {
    build(config, weights, device);
}

void CudaQwen25Vision::build(const engine::ModelConfig& config, vision_tower::TowerWeights& W,
                             int device) {
    const int window = checked_window(config);
    const engine::VisionConfig& vc = *config.vision;
    const std::int64_t hid = vc.hidden_size, heads = vc.num_heads, hd = hid / heads,
                       p = vc.patch_size, tp = vc.temporal_patch_size, I = vc.intermediate_size,
                       m = vc.spatial_merge_size, m2 = m * m;
    require_device(device);
    check(cudaSetDevice(device), "cudaSetDevice");
    impl_ = std::make_unique<Impl>();
    Impl& im = *impl_;
    im.vc = vc;
    im.device = device;
    im.window = window;
    auto vec = [&](const std::string& name, std::int64_t n) { return W.f32({name}, n); };
    im.patch.w = W.bf16({"patch_embed.proj.weight"}, {hid, 3, tp, p, p});
    im.patch.out = hid;
    im.patch.in = 3 * tp * p * p;
    im.inv_freq = vision_tower::f32_buffer(engine::vblocks::rope2d_inv_freq(int(hd), vc.rope_theta),
                                           "vision rope inv_freq");
    for (int n = 0; n < vc.depth; ++n) {
        const std::string b = "blocks." + std::to_string(n) + ".";
        Block blk;
        blk.norm1 = vec(b + "norm1.weight", hid);
        blk.norm2 = vec(b + "norm2.weight", hid);
        blk.qkv = vision_tower::upload_linear(W, b + "attn.qkv", 3 * hid, hid);
        blk.proj = vision_tower::upload_linear(W, b + "attn.proj", hid, hid);
        blk.gate_up = upload_gate_up(W, b, I, hid);
        blk.down = vision_tower::upload_linear(W, b + "mlp.down_proj", hid, I);
        im.blocks.push_back(std::move(blk));
    }
    im.merger_norm = vec("merger.ln_q.weight", hid);
    im.merger_fc1 = vision_tower::upload_linear(W, "merger.mlp.0", hid * m2, hid * m2);
    im.merger_fc2 = vision_tower::upload_linear(W, "merger.mlp.2", vc.out_hidden_size, hid * m2);
}

CudaQwen25Vision::~CudaQwen25Vision() = default;

void CudaQwen25Vision::Impl::block(const Block& b, float* x, std::int64_t S,
                                   const std::int32_t* pos, const std::int32_t* seg,
                                   std::int64_t n_seg) {
    const std::int64_t hid = vc.hidden_size, heads = vc.num_heads, hd = hid / heads,
                       I = vc.intermediate_size;
    float* n = tmp<float>("norm", S * hid);
    float* qkv = tmp<float>("qkv", S * 3 * hid);
    float* attn = tmp<float>("attn", S * hid);
    float* gu = tmp<float>("gate/up", S * 2 * I);
    float* act = tmp<float>("act", S * I);
    k::rms_norm(x, b.norm1.as<const float>(), S, hid, kEps, n, s());
    linear(b.qkv, n, S, qkv);
    k::rope2d(qkv, S, heads, hd, pos, inv_freq.as<const float>(), s());
    k::flash_attention_segments(qkv, S, heads, hd, seg, n_seg, attn, s());
    linear(b.proj, attn, S, n);
    k::add(x, n, S * hid, s());
    k::rms_norm(x, b.norm2.as<const float>(), S, hid, kEps, n, s());
    linear(b.gate_up, n, S, gu);
    k::silu_mul(gu, S, I, act, s());
    linear(b.down, act, S, n);
    k::add(x, n, S * hid, s());
}

engine::VisionFeatures CudaQwen25Vision::encode(const engine::PixelValues& px,
                                                const engine::Trace& trace) const {
    Impl& im = *impl_;
    const engine::VisionConfig& vc = im.vc;
    if (trace) throw std::invalid_argument("the CUDA vision tower reports no trace");
    const int m = vc.spatial_merge_size;
    const std::int64_t hid = vc.hidden_size, cols = im.patch.in, m2 = std::int64_t(m) * m;
    const int gw = px.grid_thw[2];
    // The window layout on the host, as the CPU tower computes it (checking the pixel values the
    // same way); every index the kernels read goes up in one int32 buffer: [order S | rotary
    // rows S | rotary cols S | merged index T | window bounds | whole-image bounds 2].
    const auto [win, order] = engine::window_plan(px, cols, m, im.window);
    check(cudaSetDevice(im.device), "cudaSetDevice");
    const std::int64_t S = px.rows, T = S / m2, wide = hid * m2, out_w = vc.out_hidden_size;

    const std::vector<std::int32_t> rpos = engine::vblocks::rope2d_positions(order, gw, m);
    const std::int64_t n_win = std::int64_t(win.cu_seqlens.size()) - 1;
    std::vector<std::int32_t> idx;
    idx.reserve(std::size_t(3 * S + T + n_win + 3));
    for (std::int64_t o : order) idx.push_back(std::int32_t(o));
    idx.insert(idx.end(), rpos.begin(), rpos.end());
    for (std::int64_t j : win.index) idx.push_back(std::int32_t(j));
    for (std::int64_t c : win.cu_seqlens) idx.push_back(std::int32_t(c));
    idx.push_back(0);
    idx.push_back(std::int32_t(S));
    std::int32_t* idx_d = im.tmp<std::int32_t>("indices", std::int64_t(idx.size()));
    const std::int32_t *order_d = idx_d, *pos_d = idx_d + S, *index_d = idx_d + 3 * S,
                       *win_d = index_d + T, *whole_d = win_d + n_win + 1;

    float* pixels = im.tmp<float>("pixels", S * cols);
    float* e = im.tmp<float>("embedded", S * hid);
    float* x = im.tmp<float>("hidden", S * hid);
    // The host vectors outlive the pass: the download at the end syncs the stream.
    auto up = [&](void* dst, const void* src, std::size_t bytes, const char* what) {
        check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice,
                              static_cast<cudaStream_t>(im.s())),
              what);
    };
    up(pixels, px.data.data(), px.data.size() * sizeof(float), "vision pixels upload");
    up(idx_d, idx.data(), idx.size() * sizeof(std::int32_t), "vision window indices upload");

    im.linear(im.patch, pixels, S, e);
    k::gather_rows(e, order_d, S, hid, x, im.s());  // into window order
    const auto& full = vc.fullatt_block_indexes;
    for (int n = 0; n < vc.depth; ++n) {
        stop_point(im.stream, "vision block");  // a cancel stops the tower within one block
        const bool global = std::find(full.begin(), full.end(), n) != full.end();
        im.block(im.blocks[std::size_t(n)], x, S, pos_d, global ? whole_d : win_d,
                 global ? 1 : n_win);
    }

    // Merger: RMSNorm per patch; consecutive patches form a 2×2 unit, so [S, hid] viewed as
    // [T, 4·hid] is the shuffle; then back to raster order.
    float* nrm = im.tmp<float>("merge norm", S * hid);
    float* mid = im.tmp<float>("merge mid", T * wide);
    float* out = im.tmp<float>("merge out", T * out_w);
    float* raster = im.tmp<float>("merge raster", T * out_w);
    k::rms_norm(x, im.merger_norm.as<const float>(), S, hid, kEps, nrm, im.s());
    im.linear(im.merger_fc1, nrm, T, mid);
    k::gelu(mid, T * wide, false, mid, im.s());
    im.linear(im.merger_fc2, mid, T, out);
    k::scatter_rows(out, index_d, T, out_w, raster, im.s());

    engine::VisionFeatures f;
    f.tokens = T;
    f.width = out_w;
    f.merged.resize(std::size_t(T * out_w));
    check(cudaMemcpyAsync(f.merged.data(), raster, f.merged.size() * sizeof(float),
                          cudaMemcpyDeviceToHost, static_cast<cudaStream_t>(im.s())),
          "vision merger download");
    im.stream.sync("vision tower");
    return f;
}

}  // namespace deskpilot::model::cuda
