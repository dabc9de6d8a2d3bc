#include "model/engine/vision/qwen3_vision.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace deskpilot::model::engine {

using cpu::Layout;
using cpu::WeightView;

using vblocks::apply;
using vblocks::Linear;
using vblocks::to_vec;

struct Qwen3VisionModel::Block {
    std::vector<float> n1w, n1b, n2w, n2b;
    Linear qkv, proj, fc1, fc2;
};

struct Qwen3VisionModel::Merger {
    bool postshuffle = false;
    std::vector<float> nw, nb;
    Linear fc1, fc2;
};

namespace {
// The tower's scratch_ slots.
enum Slot : std::size_t { kX, kNormed, kQkv, kAttn, kMid };
}  // namespace

Qwen3VisionModel::~Qwen3VisionModel() = default;

Qwen3VisionModel::Qwen3VisionModel(const ModelConfig& config,
                                   std::shared_ptr<const Checkpoint> checkpoint,
                                   cpu::ThreadPool& pool)
    : checkpoint_(std::move(checkpoint)), pool_(pool) {
    if (!config.vision)
        throw ConfigError(std::string(architecture_name(config.architecture)) +
                          " config has no vision_config");
    if (config.architecture != Architecture::qwen3_vl_moe)
        throw ConfigError(std::string("the Qwen3-VL vision tower does not run ") +
                          architecture_name(config.architecture) + " checkpoints");
    vc_ = *config.vision;
    const vblocks::VisionWeights W(*checkpoint_);
    const std::int64_t hid = vc_.hidden_size, p = vc_.patch_size, tp = vc_.temporal_patch_size;
    const std::int64_t I = vc_.intermediate_size,
                       m2 = std::int64_t(vc_.spatial_merge_size) * vc_.spatial_merge_size;
    side_ = int(std::lround(std::sqrt(double(vc_.num_position_embeddings))));
    if (std::int64_t(side_) * side_ != vc_.num_position_embeddings)
        throw ConfigError("vision_config.num_position_embeddings " +
                          std::to_string(vc_.num_position_embeddings) + " is not a square");
    if ((hid / vc_.num_heads) % 4 != 0)
        throw ConfigError("vision head_dim must be a multiple of 4 for the 2-D rotary");

    patch_ =
        vblocks::PatchEmbed(to_vec(W.need("patch_embed.proj.weight", {hid, 3, tp, p, p})),
                            to_vec(W.need("patch_embed.proj.bias", {hid})), hid, int(tp), int(p));
    pos_table_ = W.need("pos_embed.weight", {vc_.num_position_embeddings, hid}).to_f32();

    inv_freq_ = vblocks::rope2d_inv_freq(int(hid / vc_.num_heads), vc_.rope_theta);

    for (int n = 0; n < vc_.depth; ++n) {
        const std::string b = "blocks." + std::to_string(n) + ".";
        Block blk;
        blk.n1w = to_vec(W.need(b + "norm1.weight", {hid}));
        blk.n1b = to_vec(W.need(b + "norm1.bias", {hid}));
        blk.n2w = to_vec(W.need(b + "norm2.weight", {hid}));
        blk.n2b = to_vec(W.need(b + "norm2.bias", {hid}));
        blk.qkv = W.linear(b + "attn.qkv", 3 * hid, hid);
        blk.proj = W.linear(b + "attn.proj", hid, hid);
        blk.fc1 = W.linear(b + "mlp.linear_fc1", I, hid);
        blk.fc2 = W.linear(b + "mlp.linear_fc2", hid, I);
        blocks_.push_back(std::move(blk));
    }
    auto merger = [&](const std::string& name, bool post) {
        Merger mg;
        mg.postshuffle = post;
        const std::int64_t nd = post ? hid * m2 : hid;
        mg.nw = to_vec(W.need(name + ".norm.weight", {nd}));
        mg.nb = to_vec(W.need(name + ".norm.bias", {nd}));
        mg.fc1 = W.linear(name + ".linear_fc1", hid * m2, hid * m2);
        mg.fc2 = W.linear(name + ".linear_fc2", vc_.out_hidden_size, hid * m2);
        return mg;
    };
    mergers_.push_back(merger("merger", false));
    for (std::size_t k = 0; k < vc_.deepstack_visual_indexes.size(); ++k)
        mergers_.push_back(merger("deepstack_merger_list." + std::to_string(k), true));
}

void Qwen3VisionModel::add_positions(int gh, int gw, float* x) const {
    vblocks::add_learned_positions(pos_table_.data<float>(), side_, vc_.hidden_size, gh, gw,
                                   vc_.spatial_merge_size, x, pool_);
}

void Qwen3VisionModel::block(const Block& b, float* x, std::int64_t S,
                             const std::vector<float>& cos, const std::vector<float>& sin) const {
    const std::int64_t hid = vc_.hidden_size, heads = vc_.num_heads, hd = hid / heads,
                       I = vc_.intermediate_size;
    // Every buffer here is written whole by pool jobs before it is read, so none is zeroed
    // first (hundreds of MB on a full screenshot, on one thread, that no cancel could stop).
    float* const n = scratch_.floats(kNormed, std::size_t(S * hid));
    float* const qkv = scratch_.floats(kQkv, std::size_t(S * 3 * hid));
    vblocks::layer_norm(x, S, hid, b.n1w.data(), b.n1b.data(), 1e-6, n, pool_);
    apply(b.qkv, n, S, qkv, pool_);
    float* const attn = scratch_.floats(kAttn, std::size_t(S * hid));
    const std::int64_t whole[2] = {0, S};  // full attention over the image
    vblocks::segment_attention(qkv, S, heads, hd, cos, sin, whole, attn, pool_,
                               &attention_scratch_);
    apply(b.proj, attn, S, n, pool_);
    vblocks::add_in_place(x, n, S * hid, pool_);

    // The MLP's intermediate: S × I, ~170 MB on a full screenshot.
    float* const mid = scratch_.floats(kMid, std::size_t(S * I));
    vblocks::layer_norm(x, S, hid, b.n2w.data(), b.n2b.data(), 1e-6, n, pool_);
    apply(b.fc1, n, S, mid, pool_);
    vblocks::gelu_in_place(mid, S * I, vc_.gelu_tanh, pool_);
    apply(b.fc2, mid, S, n, pool_);
    vblocks::add_in_place(x, n, S * hid, pool_);
}

std::vector<float> Qwen3VisionModel::merge(const Merger& m, const float* x, std::int64_t S) const {
    const std::int64_t hid = vc_.hidden_size,
                       m2 = std::int64_t(vc_.spatial_merge_size) * vc_.spatial_merge_size,
                       T = S / m2, wide = hid * m2;
    // Between blocks, the blocks' buffers are free.
    float* const n = scratch_.floats(kNormed, std::size_t(S * hid));
    float* const mid = scratch_.floats(kMid, std::size_t(T * wide));
    std::vector<float> out(std::size_t(T * vc_.out_hidden_size));
    // Consecutive patches form a 2×2 block, so [S, hid] viewed as [S/4, 4·hid] is the shuffle.
    if (m.postshuffle)
        vblocks::layer_norm(x, T, wide, m.nw.data(), m.nb.data(), 1e-6, n, pool_);
    else
        vblocks::layer_norm(x, S, hid, m.nw.data(), m.nb.data(), 1e-6, n, pool_);
    apply(m.fc1, n, T, mid, pool_);
    vblocks::gelu_in_place(mid, T * wide, false, pool_);
    apply(m.fc2, mid, T, out.data(), pool_);
    return out;
}

VisionFeatures Qwen3VisionModel::encode(const PixelValues& px, const Trace& trace) const {
    const int m = vc_.spatial_merge_size;
    const std::int64_t hid = vc_.hidden_size, cols = std::int64_t(3) * vc_.temporal_patch_size *
                                                     vc_.patch_size * vc_.patch_size;
    const auto [gt, gh, gw] = px.grid_thw;
    if (px.cols != cols)
        throw std::invalid_argument("pixel values have " + std::to_string(px.cols) +
                                    " columns; this vision tower needs " + std::to_string(cols));
    if (gt != 1 || gh % m || gw % m || std::int64_t(gh) * gw != px.rows ||
        px.data.size() != std::size_t(px.rows * px.cols))
        throw std::invalid_argument("pixel values do not match their grid " + std::to_string(gt) +
                                    "x" + std::to_string(gh) + "x" + std::to_string(gw));
    const std::int64_t S = px.rows;
    const std::lock_guard lock(scratch_mutex_);
    float* const x = scratch_.floats(kX, std::size_t(S * hid));  // written whole
    patch_.run(px, x, pool_);
    if (trace) {
        trace("patch_embed", -1, x, S, hid);
        std::vector<float> pos(std::size_t(S * hid), 0.0f);
        add_positions(gh, gw, pos.data());
        trace("pos_embed", -1, pos.data(), S, hid);
    }
    add_positions(gh, gw, x);

    // 2-D rotary tables: the first hd/4 angles follow the row, the next hd/4 the column.
    std::vector<std::int64_t> order(static_cast<std::size_t>(S));
    for (std::int64_t i = 0; i < S; ++i) order[std::size_t(i)] = i;
    std::vector<float> cos, sin;
    vblocks::rope2d_tables(order, gw, m, inv_freq_, cos, sin);

    VisionFeatures out;
    out.tokens = S / (m * m);
    out.width = vc_.out_hidden_size;
    for (int n = 0; n < vc_.depth; ++n) {
        block(blocks_[std::size_t(n)], x, S, cos, sin);
        if (trace) trace("block", n, x, S, hid);
        const auto& ds = vc_.deepstack_visual_indexes;
        const auto it = std::find(ds.begin(), ds.end(), n);
        if (it != ds.end()) {
            const int k = int(it - ds.begin());
            out.deepstack.push_back(merge(mergers_[std::size_t(1 + k)], x, S));
            if (trace) trace("deepstack", k, out.deepstack.back().data(), out.tokens, out.width);
        }
    }
    out.merged = merge(mergers_[0], x, S);
    if (trace) trace("merged", -1, out.merged.data(), out.tokens, out.width);
    return out;
}

}  // namespace deskpilot::model::engine
