#include "model/engine/vision/qwen2_5_vision.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

#include "model/engine/cpu/ops.h"

namespace deskpilot::model::engine {

using vblocks::apply;
using vblocks::Linear;

struct Qwen25VisionModel::Block {
    std::vector<float> norm1, norm2;
    Linear qkv, proj, gate, up, down;
};

namespace {
// The tower's scratch_ slots.
enum Slot : std::size_t { kEmbedded, kX, kQkv, kAttn, kRowsNormed, kRowsGate, kRowsUp };
}  // namespace

WindowLayout window_layout(int gh, int gw, int merge, int window) {
    if (gh < 1 || gw < 1 || merge < 1 || window < 1)
        throw std::invalid_argument("window_layout: sizes must be positive");
    const int lh = gh / merge, lw = gw / merge;
    WindowLayout out;
    out.cu_seqlens.push_back(0);
    // Windows tile the merged grid from the top left; those at the right and bottom edges hold
    // what is left (transformers pads to a multiple with -100 and drops the padding).
    for (int r0 = 0; r0 < lh; r0 += window)
        for (int c0 = 0; c0 < lw; c0 += window) {
            for (int r = r0; r < std::min(r0 + window, lh); ++r)
                for (int c = c0; c < std::min(c0 + window, lw); ++c)
                    out.index.push_back(std::int64_t(r) * lw + c);
            out.cu_seqlens.push_back(std::int64_t(out.index.size()) * merge * merge);
        }
    return out;
}

std::vector<std::int64_t> window_patch_order(const WindowLayout& w, int merge) {
    const std::int64_t m2 = std::int64_t(merge) * merge, T = std::int64_t(w.index.size());
    std::vector<std::int64_t> order(static_cast<std::size_t>(T * m2));
    for (std::int64_t j = 0; j < T; ++j)
        for (std::int64_t u = 0; u < m2; ++u)
            order[std::size_t(j * m2 + u)] = w.index[std::size_t(j)] * m2 + u;
    return order;
}

Qwen25VisionModel::~Qwen25VisionModel() = default;

Qwen25VisionModel::Qwen25VisionModel(const ModelConfig& config,
                                     std::shared_ptr<const Checkpoint> checkpoint,
                                     cpu::ThreadPool& pool)
    : checkpoint_(std::move(checkpoint)), pool_(pool) {
    if (!config.vision)
        throw ConfigError(std::string(architecture_name(config.architecture)) +
                          " config has no vision_config");
    if (config.architecture != Architecture::qwen2_5_vl)
        throw ConfigError(std::string("the Qwen2.5-VL vision tower does not run ") +
                          architecture_name(config.architecture) + " checkpoints");
    vc_ = *config.vision;
    const std::int64_t hid = vc_.hidden_size, p = vc_.patch_size, tp = vc_.temporal_patch_size,
                       I = vc_.intermediate_size, m = vc_.spatial_merge_size, m2 = m * m;
    if ((hid / vc_.num_heads) % 4 != 0)
        throw ConfigError("vision head_dim must be a multiple of 4 for the 2-D rotary");
    window_ = int(vc_.window_size / m / p);
    if (window_ < 1)
        throw ConfigError("vision_config.window_size " + std::to_string(vc_.window_size) +
                          " is smaller than one merged patch (" + std::to_string(m * p) + " px)");
    for (int b : vc_.fullatt_block_indexes)
        if (b < 0 || b >= vc_.depth)
            throw ConfigError("vision_config.fullatt_block_indexes names block " +
                              std::to_string(b) + " of " + std::to_string(vc_.depth));

    const vblocks::VisionWeights W(*checkpoint_);
    patch_ =
        vblocks::PatchEmbed(vblocks::to_vec(W.need("patch_embed.proj.weight", {hid, 3, tp, p, p})),
                            {}, hid, int(tp), int(p));
    inv_freq_ = vblocks::rope2d_inv_freq(int(hid / vc_.num_heads), vc_.rope_theta);
    for (int n = 0; n < vc_.depth; ++n) {
        const std::string b = "blocks." + std::to_string(n) + ".";
        Block blk;
        blk.norm1 = W.vec(b + "norm1.weight", hid);
        blk.norm2 = W.vec(b + "norm2.weight", hid);
        blk.qkv = W.linear(b + "attn.qkv", 3 * hid, hid);
        blk.proj = W.linear(b + "attn.proj", hid, hid);
        blk.gate = W.linear(b + "mlp.gate_proj", I, hid);
        blk.up = W.linear(b + "mlp.up_proj", I, hid);
        blk.down = W.linear(b + "mlp.down_proj", hid, I);
        blocks_.push_back(std::move(blk));
    }
    merger_norm_ = W.vec("merger.ln_q.weight", hid);
    merger_fc1_ = W.linear("merger.mlp.0", hid * m2, hid * m2);
    merger_fc2_ = W.linear("merger.mlp.2", vc_.out_hidden_size, hid * m2);
}

void Qwen25VisionModel::block(const Block& b, float* x, std::int64_t S,
                              const std::vector<float>& cos, const std::vector<float>& sin,
                              std::span<const std::int64_t> segments) const {
    const std::int64_t hid = vc_.hidden_size, heads = vc_.num_heads, hd = hid / heads,
                       I = vc_.intermediate_size;
    // The row-wise parts run in blocks of rows so the MLP's intermediate stays small on a full
    // screenshot (~10k patches).
    const std::int64_t step = 512;
    auto by_rows = [&](const auto& fn) {
        for (std::int64_t r0 = 0; r0 < S; r0 += step) {
            fn(r0, std::min(step, S - r0));
        }
    };
    // Every buffer is written whole before it is read (qkv and attn, ~200 MB on a full
    // screenshot, inside the stoppable pool jobs), so none is zeroed.
    float* const qkv = scratch_.floats(kQkv, std::size_t(S * 3 * hid));
    float* const attn = scratch_.floats(kAttn, std::size_t(S * hid));
    float* const n = scratch_.floats(kRowsNormed, std::size_t(step * hid));
    float* const g = scratch_.floats(kRowsGate, std::size_t(step * I));
    float* const u = scratch_.floats(kRowsUp, std::size_t(step * I));
    by_rows([&](std::int64_t r0, std::int64_t rows) {
        cpu::rms_norm(x + r0 * hid, b.norm1.data(), rows, hid, 1e-6f, n);
        apply(b.qkv, n, rows, qkv + r0 * 3 * hid, pool_);
    });
    vblocks::segment_attention(qkv, S, heads, hd, cos, sin, segments, attn, pool_,
                               &attention_scratch_);
    by_rows([&](std::int64_t r0, std::int64_t rows) {
        apply(b.proj, attn + r0 * hid, rows, n, pool_);
        for (std::int64_t i = 0; i < rows * hid; ++i) x[r0 * hid + i] += n[i];
    });
    by_rows([&](std::int64_t r0, std::int64_t rows) {
        cpu::rms_norm(x + r0 * hid, b.norm2.data(), rows, hid, 1e-6f, n);
        apply(b.gate, n, rows, g, pool_);
        apply(b.up, n, rows, u, pool_);
        for (std::int64_t i = 0; i < rows * I; ++i) g[i] = cpu::silu(g[i]) * u[i];
        apply(b.down, g, rows, n, pool_);
        for (std::int64_t i = 0; i < rows * hid; ++i) x[r0 * hid + i] += n[i];
    });
}

WindowPlan window_plan(const PixelValues& px, std::int64_t cols, int merge, int window) {
    const auto [gt, gh, gw] = px.grid_thw;
    if (px.cols != cols)
        throw std::invalid_argument("pixel values have " + std::to_string(px.cols) +
                                    " columns; this vision tower needs " + std::to_string(cols));
    if (gt != 1 || gh < merge || gw < merge || gh % merge || gw % merge ||
        std::int64_t(gh) * gw != px.rows || px.data.size() != std::size_t(px.rows * px.cols))
        throw std::invalid_argument("pixel values do not match their grid " + std::to_string(gt) +
                                    "x" + std::to_string(gh) + "x" + std::to_string(gw));
    WindowPlan plan{window_layout(gh, gw, merge, window), {}};
    plan.order = window_patch_order(plan.layout, merge);
    return plan;
}

VisionFeatures Qwen25VisionModel::encode(const PixelValues& px, const Trace& trace) const {
    const int m = vc_.spatial_merge_size;
    const std::int64_t hid = vc_.hidden_size, m2 = std::int64_t(m) * m,
                       cols = std::int64_t(3) * vc_.temporal_patch_size * vc_.patch_size *
                              vc_.patch_size;
    const int gw = px.grid_thw[2];
    // Window order: merged patch j of the permuted sequence is merged patch index[j] of the
    // image; its m² patches stay together.
    const auto [win, order] = window_plan(px, cols, m, window_);
    const std::int64_t S = px.rows, T = S / m2;
    // The full-screenshot buffers below (~50 MB each) are written whole by pool jobs, which
    // touch them first; zeroing them here would be tens of ms on one thread that no cancel
    // could interrupt.
    const std::lock_guard lock(scratch_mutex_);
    float* const embedded = scratch_.floats(kEmbedded, std::size_t(S * hid));
    patch_.run(px, embedded, pool_);
    if (trace) trace("patch_embed", -1, embedded, S, hid);

    float* const x = scratch_.floats(kX, std::size_t(S * hid));
    vblocks::gather_rows(embedded, order, hid, x, pool_);
    std::vector<float> cos, sin;
    vblocks::rope2d_tables(order, gw, m, inv_freq_, cos, sin);

    const std::int64_t whole[2] = {0, S};
    for (int n = 0; n < vc_.depth; ++n) {
        const auto& full = vc_.fullatt_block_indexes;
        const bool global = std::find(full.begin(), full.end(), n) != full.end();
        block(blocks_[std::size_t(n)], x, S, cos, sin,
              global ? std::span<const std::int64_t>(whole)
                     : std::span<const std::int64_t>(win.cu_seqlens));
        if (trace) trace("block", n, x, S, hid);
    }

    // Merger: RMSNorm per patch, then each 2×2 unit (consecutive rows) as one wide row.
    const std::int64_t wide = hid * m2, out_w = vc_.out_hidden_size;
    // The blocks' buffers are free again: the patch embedding's, the attention output's and
    // qkv's hold the merger's steps.
    float* const normed = scratch_.floats(kEmbedded, std::size_t(S * hid));
    float* const mid = scratch_.floats(kAttn, std::size_t(T * wide));
    float* const merged = scratch_.floats(kQkv, std::size_t(T * out_w));
    pool_.parallel_for(S, 64, [&](std::int64_t a, std::int64_t b) {
        cpu::rms_norm(x + a * hid, merger_norm_.data(), b - a, hid, 1e-6f, normed + a * hid);
    });
    apply(merger_fc1_, normed, T, mid, pool_);
    vblocks::gelu_in_place(mid, T * wide, false, pool_);
    apply(merger_fc2_, mid, T, merged, pool_);

    VisionFeatures out;
    out.tokens = T;
    out.width = out_w;
    out.merged.resize(std::size_t(T * out_w));
    // The inverse permutation: back to raster order.
    vblocks::scatter_rows(merged, win.index, out_w, out.merged.data(), pool_);
    if (trace) trace("merged", -1, out.merged.data(), T, out_w);
    return out;
}

}  // namespace deskpilot::model::engine
