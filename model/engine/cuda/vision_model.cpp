#include "model/engine/cuda/vision_model.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/engine/cuda/flash_attention.h"
#include "model/engine/cuda/stop_point.h"
#include "model/engine/cuda/vision_common.h"

namespace deskpilot::model::cuda {

using engine::cpu::Layout;

namespace {

constexpr float kEps = 1e-6f;  // every LayerNorm of the tower (as the CPU tower)

}  // namespace

// Named (not anonymous): Impl's members use them.
namespace vision_tower {

struct Block {
    DeviceBuffer n1w, n1b, n2w, n2b;
    Linear qkv, proj, fc1, fc2;
};

struct Merger {
    bool postshuffle = false;
    DeviceBuffer nw, nb;
    Linear fc1, fc2;
};

}  // namespace vision_tower
using namespace vision_tower;

// The runner (vision_common.h: stream, cuBLAS, scratch, linear) and the weights.
struct CudaQwen3Vision::Impl : Runner {
    engine::VisionConfig vc;
    int side = 0;
    DeviceBuffer inv_freq;
    Linear patch;              // the full Conv3d weight [hid, 3·tp·p·p] as one GEMM
    std::vector<float> table;  // learned positions [side², hid], host f32 (interpolated here)
    std::vector<Block> blocks;
    std::vector<Merger> mergers;  // [0]: final merger; [1 + k]: DeepStack k

    void block(const Block& b, float* x, std::int64_t S, const std::int32_t* pos,
               const std::int32_t* seg);
    std::vector<float> merge(const Merger& m, const float* x, std::int64_t S);
};

namespace {

// The config checks both constructors make before anything is read or allocated; the position
// table's side.
int checked_side(const engine::ModelConfig& config) {
    const engine::VisionConfig& vc =
        vision_tower::require_architecture(config, engine::Architecture::qwen3_vl_moe, "Qwen3-VL");
    const std::int64_t hd = vc.hidden_size / vc.num_heads;
    if (hd % 4 != 0 || !k::flash_attention_supports(hd))
        throw CudaError("CUDA vision tower: head_dim " + std::to_string(hd) +
                        " is not supported (a multiple of 4 the flash kernel is built for)");
    const int side = int(std::lround(std::sqrt(double(vc.num_position_embeddings))));
    if (std::int64_t(side) * side != vc.num_position_embeddings)
        throw engine::ConfigError("vision_config.num_position_embeddings " +
                                  std::to_string(vc.num_position_embeddings) + " is not a square");
    return side;
}

}  // namespace

CudaQwen3Vision::CudaQwen3Vision(const engine::ModelConfig& config, const engine::Checkpoint& ck,
                                 int device) {
    checked_side(config);
    const engine::vblocks::VisionWeights W(ck);  // validates names and shapes
    CheckpointTowerWeights source(W);
    build(config, source, device);
}

CudaQwen3Vision::CudaQwen3Vision(const engine::ModelConfig& config, TowerWeights& weights,
                                 int device) {
    build(config, weights, device);
}

void CudaQwen3Vision::build(const engine::ModelConfig& config, TowerWeights& W, int device) {
    const int side = checked_side(config);
    const engine::VisionConfig& vc = *config.vision;
    const std::int64_t hid = vc.hidden_size, heads = vc.num_heads, hd = hid / heads,
                       p = vc.patch_size, tp = vc.temporal_patch_size, I = vc.intermediate_size,
                       m2 = std::int64_t(vc.spatial_merge_size) * vc.spatial_merge_size;
    require_device(device);
    check(cudaSetDevice(device), "cudaSetDevice");
    impl_ = std::make_unique<Impl>();
    Impl& m = *impl_;
    m.vc = vc;
    m.device = device;
    m.side = side;

    auto vec = [&](const std::string& name, std::int64_t n) { return W.f32({name}, n); };
    auto linear = [&](const std::string& name, std::int64_t out, std::int64_t in) {
        return upload_linear(W, name, out, in);
    };
    const std::int64_t cols = 3 * tp * p * p;
    m.patch.w = W.bf16({"patch_embed.proj.weight"}, {hid, 3, tp, p, p});
    m.patch.b = vec("patch_embed.proj.bias", hid);
    m.patch.out = hid;
    m.patch.in = cols;
    m.table = W.host("pos_embed.weight", {vc.num_position_embeddings, hid});
    m.inv_freq = f32_buffer(engine::vblocks::rope2d_inv_freq(int(hd), vc.rope_theta),
                            "vision rope inv_freq");
    for (int n = 0; n < vc.depth; ++n) {
        const std::string b = "blocks." + std::to_string(n) + ".";
        Block blk;
        blk.n1w = vec(b + "norm1.weight", hid);
        blk.n1b = vec(b + "norm1.bias", hid);
        blk.n2w = vec(b + "norm2.weight", hid);
        blk.n2b = vec(b + "norm2.bias", hid);
        blk.qkv = linear(b + "attn.qkv", 3 * hid, hid);
        blk.proj = linear(b + "attn.proj", hid, hid);
        blk.fc1 = linear(b + "mlp.linear_fc1", I, hid);
        blk.fc2 = linear(b + "mlp.linear_fc2", hid, I);
        m.blocks.push_back(std::move(blk));
    }
    auto merger = [&](const std::string& name, bool post) {
        Merger mg;
        mg.postshuffle = post;
        const std::int64_t nd = post ? hid * m2 : hid;
        mg.nw = vec(name + ".norm.weight", nd);
        mg.nb = vec(name + ".norm.bias", nd);
        mg.fc1 = linear(name + ".linear_fc1", hid * m2, hid * m2);
        mg.fc2 = linear(name + ".linear_fc2", vc.out_hidden_size, hid * m2);
        return mg;
    };
    m.mergers.push_back(merger("merger", false));
    for (std::size_t k = 0; k < vc.deepstack_visual_indexes.size(); ++k)
        m.mergers.push_back(merger("deepstack_merger_list." + std::to_string(k), true));
}

CudaQwen3Vision::~CudaQwen3Vision() = default;

void CudaQwen3Vision::Impl::block(const Block& b, float* x, std::int64_t S, const std::int32_t* pos,
                                  const std::int32_t* seg) {
    const std::int64_t hid = vc.hidden_size, heads = vc.num_heads, hd = hid / heads,
                       I = vc.intermediate_size;
    float* n = tmp<float>("norm", S * hid);
    float* qkv = tmp<float>("qkv", S * 3 * hid);
    float* attn = tmp<float>("attn", S * hid);
    float* mid = tmp<float>("mlp", S * I);
    k::layer_norm(x, b.n1w.as<const float>(), b.n1b.as<const float>(), S, hid, kEps, n, s());
    linear(b.qkv, n, S, qkv);
    k::rope2d(qkv, S, heads, hd, pos, inv_freq.as<const float>(), s());
    k::flash_attention_segments(qkv, S, heads, hd, seg, 1, attn, s());  // the whole image
    linear(b.proj, attn, S, n);
    k::add(x, n, S * hid, s());
    k::layer_norm(x, b.n2w.as<const float>(), b.n2b.as<const float>(), S, hid, kEps, n, s());
    linear(b.fc1, n, S, mid);
    k::gelu(mid, S * I, vc.gelu_tanh, mid, s());
    linear(b.fc2, mid, S, n);
    k::add(x, n, S * hid, s());
}

std::vector<float> CudaQwen3Vision::Impl::merge(const Merger& mg, const float* x, std::int64_t S) {
    const std::int64_t hid = vc.hidden_size,
                       m2 = std::int64_t(vc.spatial_merge_size) * vc.spatial_merge_size, T = S / m2,
                       wide = hid * m2, out_w = vc.out_hidden_size;
    float* n = tmp<float>("merge norm", S * hid);
    float* mid = tmp<float>("merge mid", T * wide);
    float* out = tmp<float>("merge out", T * out_w);
    // Consecutive patches form a 2×2 block, so [S, hid] viewed as [S/4, 4·hid] is the shuffle.
    if (mg.postshuffle)
        k::layer_norm(x, mg.nw.as<const float>(), mg.nb.as<const float>(), T, wide, kEps, n, s());
    else
        k::layer_norm(x, mg.nw.as<const float>(), mg.nb.as<const float>(), S, hid, kEps, n, s());
    linear(mg.fc1, n, T, mid);
    k::gelu(mid, T * wide, false, mid, s());
    linear(mg.fc2, mid, T, out);
    std::vector<float> host(std::size_t(T * out_w));
    check(cudaMemcpyAsync(host.data(), out, host.size() * sizeof(float), cudaMemcpyDeviceToHost,
                          static_cast<cudaStream_t>(s())),
          "vision merger download");
    stream.sync("vision merger");
    return host;
}

engine::VisionFeatures CudaQwen3Vision::encode(const engine::PixelValues& px,
                                               const engine::Trace& trace) const {
    Impl& m = *impl_;
    const engine::VisionConfig& vc = m.vc;
    if (trace) throw std::invalid_argument("the CUDA vision tower reports no trace");
    const int merge = vc.spatial_merge_size;
    const std::int64_t hid = vc.hidden_size, cols = m.patch.in;
    const auto [gt, gh, gw] = px.grid_thw;
    if (px.cols != cols)
        throw std::invalid_argument("pixel values have " + std::to_string(px.cols) +
                                    " columns; this vision tower needs " + std::to_string(cols));
    if (gt != 1 || gh % merge || gw % merge || std::int64_t(gh) * gw != px.rows ||
        px.data.size() != std::size_t(px.rows * px.cols))
        throw std::invalid_argument("pixel values do not match their grid " + std::to_string(gt) +
                                    "x" + std::to_string(gh) + "x" + std::to_string(gw));
    check(cudaSetDevice(m.device), "cudaSetDevice");
    const std::int64_t S = px.rows;

    // Host-side inputs: pixels, the interpolated positions, the rotary positions, the one
    // segment, copied on the stream (ordered before the kernels that read them).
    std::vector<float> positions(std::size_t(S * hid), 0.0f);
    engine::vblocks::add_learned_positions(m.table.data(), m.side, hid, gh, gw, merge,
                                           positions.data());
    std::vector<std::int64_t> order(static_cast<std::size_t>(S));
    for (std::int64_t i = 0; i < S; ++i) order[std::size_t(i)] = i;
    const std::vector<std::int32_t> rpos = engine::vblocks::rope2d_positions(order, gw, merge);
    const std::int32_t seg_host[2] = {0, std::int32_t(S)};

    float* pixels = m.tmp<float>("pixels", S * cols);
    float* pos_embed = m.tmp<float>("pos_embed", S * hid);
    std::int32_t* pos = m.tmp<std::int32_t>("rope pos", 2 * S);
    std::int32_t* seg = m.tmp<std::int32_t>("segments", 2);
    float* x = m.tmp<float>("hidden", S * hid);
    // The host vectors outlive the pass: the last merger's download syncs the stream.
    auto up = [&](void* dst, const void* src, std::size_t bytes, const char* what) {
        check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice,
                              static_cast<cudaStream_t>(m.s())),
              what);
    };
    up(pixels, px.data.data(), px.data.size() * sizeof(float), "vision pixels upload");
    up(pos_embed, positions.data(), positions.size() * sizeof(float), "vision positions upload");
    up(pos, rpos.data(), rpos.size() * sizeof(std::int32_t), "vision rotary positions upload");
    up(seg, seg_host, sizeof seg_host, "vision segments upload");

    m.linear(m.patch, pixels, S, x);
    k::add(x, pos_embed, S * hid, m.s());

    engine::VisionFeatures out;
    out.tokens = S / (merge * merge);
    out.width = vc.out_hidden_size;
    const auto& ds = vc.deepstack_visual_indexes;
    for (int n = 0; n < vc.depth; ++n) {
        stop_point(m.stream, "vision block");  // a cancel stops the tower within one block
        m.block(m.blocks[std::size_t(n)], x, S, pos, seg);
        const auto it = std::find(ds.begin(), ds.end(), n);
        if (it != ds.end())
            out.deepstack.push_back(m.merge(m.mergers[std::size_t(1 + (it - ds.begin()))], x, S));
    }
    out.merged = m.merge(m.mergers[0], x, S);
    return out;
}

}  // namespace deskpilot::model::cuda
