#include "model/engine/vision/qwen3_vision.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace deskpilot::model::engine {

using cpu::Layout;
using cpu::WeightView;

struct Linear {
    WeightView w;
    std::vector<float> b;
};

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

std::vector<float> to_vec(const Tensor& t) {
    const Tensor f = t.to_f32();
    return std::vector<float>(f.data<float>(), f.data<float>() + f.numel());
}

class Weights {
  public:
    Weights(const Checkpoint& ck) : ck_(ck) {
        for (const char* p : {"model.visual.", "visual."})
            if (ck.has(std::string(p) + "patch_embed.proj.weight")) {
                prefix_ = p;
                return;
            }
        throw CheckpointError(ck.path().string() +
                              ": no vision tower (patch_embed.proj.weight under model.visual.* "
                              "or visual.*)");
    }
    Tensor need(const std::string& name, const Shape& shape) const {
        const std::string full = prefix_ + name;
        if (!ck_.has(full))
            throw CheckpointError(ck_.path().string() + ": tensor '" + full + "' is missing");
        Tensor t = ck_.get(full);
        if (t.shape() != shape)
            throw CheckpointError(ck_.path().string() + ": tensor '" + full + "' has shape " +
                                  shape_to_string(t.shape()) + " but the config needs " +
                                  shape_to_string(shape));
        return t;
    }
    Linear linear(const std::string& name, std::int64_t out, std::int64_t in) const {
        return {WeightView::of(need(name + ".weight", {out, in}), Layout::out_in),
                to_vec(need(name + ".bias", {out}))};
    }

  private:
    const Checkpoint& ck_;
    std::string prefix_;
};

void layer_norm(const float* x, std::int64_t rows, std::int64_t d, const std::vector<float>& w,
                const std::vector<float>& b, float* out) {
    for (std::int64_t r = 0; r < rows; ++r) {
        const float* v = x + r * d;
        double mean = 0, var = 0;
        for (std::int64_t i = 0; i < d; ++i) mean += v[i];
        mean /= double(d);
        for (std::int64_t i = 0; i < d; ++i) var += (v[i] - mean) * (v[i] - mean);
        var /= double(d);
        const double inv = 1.0 / std::sqrt(var + 1e-6);
        for (std::int64_t i = 0; i < d; ++i)
            out[r * d + i] = float((v[i] - mean) * inv) * w[std::size_t(i)] + b[std::size_t(i)];
    }
}

void apply(const Linear& l, const float* x, std::int64_t rows, float* y, cpu::ThreadPool& pool) {
    cpu::linear(x, rows, l.w, y, pool);
    const std::int64_t n = l.w.out_features();
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t i = 0; i < n; ++i) y[r * n + i] += l.b[std::size_t(i)];
}

float gelu_tanh(float x) {
    return 0.5f * x * (1.0f + std::tanh(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}
float gelu_erf(float x) {
    return 0.5f * x * (1.0f + std::erf(x * 0.7071067811865476f));
}

// Row and column of patch i in the image, patches being in 2×2 block order.
void patch_rc(std::int64_t i, int gw, int m, int& r, int& c) {
    const std::int64_t within = i % (m * m), block = i / (m * m);
    const int bw = gw / m;
    r = int(block / bw) * m + int(within / m);
    c = int(block % bw) * m + int(within % m);
}

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
    const Weights W(*checkpoint_);
    const std::int64_t hid = vc_.hidden_size, p = vc_.patch_size, tp = vc_.temporal_patch_size;
    const std::int64_t I = vc_.intermediate_size,
                       m2 = std::int64_t(vc_.spatial_merge_size) * vc_.spatial_merge_size;
    side_ = int(std::lround(std::sqrt(double(vc_.num_position_embeddings))));
    if (std::int64_t(side_) * side_ != vc_.num_position_embeddings)
        throw ConfigError("vision_config.num_position_embeddings " +
                          std::to_string(vc_.num_position_embeddings) + " is not a square");
    if ((hid / vc_.num_heads) % 4 != 0)
        throw ConfigError("vision head_dim must be a multiple of 4 for the 2-D rotary");

    patch_w_full_ = to_vec(W.need("patch_embed.proj.weight", {hid, 3, tp, p, p}));
    patch_b_ = to_vec(W.need("patch_embed.proj.bias", {hid}));
    // Still images repeat one frame, so Σ_t W[.., t, ..] · x == (Σ_t W[.., t, ..]) · x.
    patch_w_sum_.assign(std::size_t(hid * 3 * p * p), 0.0f);
    for (std::int64_t o = 0; o < hid; ++o)
        for (std::int64_t c = 0; c < 3; ++c)
            for (std::int64_t t = 0; t < tp; ++t)
                for (std::int64_t k = 0; k < p * p; ++k)
                    patch_w_sum_[std::size_t((o * 3 + c) * p * p + k)] +=
                        patch_w_full_[std::size_t(((o * 3 + c) * tp + t) * p * p + k)];
    pos_table_ = W.need("pos_embed.weight", {vc_.num_position_embeddings, hid}).to_f32();

    const int hd = int(hid / vc_.num_heads);
    for (int j = 0; j < hd / 4; ++j)  // θ^(-2j/(hd/2)) in f32, as transformers computes it
        inv_freq_.push_back(1.0f / std::pow(float(vc_.rope_theta), float(2 * j) / float(hd / 2)));

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

void Qwen3VisionModel::patch_embed(const PixelValues& px, float* out) const {
    const std::int64_t p2 = std::int64_t(vc_.patch_size) * vc_.patch_size,
                       tp = vc_.temporal_patch_size, hid = vc_.hidden_size, S = px.rows;
    bool still = true;
    for (std::int64_t r = 0; r < S && still; ++r)
        for (std::int64_t c = 0; c < 3 && still; ++c)
            for (std::int64_t t = 1; t < tp && still; ++t)
                still = std::memcmp(&px.data[std::size_t(r * px.cols + c * tp * p2)],
                                    &px.data[std::size_t(r * px.cols + (c * tp + t) * p2)],
                                    std::size_t(p2) * sizeof(float)) == 0;
    if (still) {
        std::vector<float> first(std::size_t(S * 3 * p2));  // frame 0 only
        for (std::int64_t r = 0; r < S; ++r)
            for (std::int64_t c = 0; c < 3; ++c)
                std::memcpy(&first[std::size_t((r * 3 + c) * p2)],
                            &px.data[std::size_t(r * px.cols + c * tp * p2)],
                            std::size_t(p2) * sizeof(float));
        const WeightView w{patch_w_sum_.data(), DType::F32, hid, 3 * p2, 3 * p2, Layout::out_in};
        cpu::linear(first.data(), S, w, out, pool_);
    } else {
        const WeightView w{patch_w_full_.data(), DType::F32, hid, px.cols, px.cols, Layout::out_in};
        cpu::linear(px.data.data(), S, w, out, pool_);
    }
    for (std::int64_t r = 0; r < S; ++r)
        for (std::int64_t i = 0; i < hid; ++i) out[r * hid + i] += patch_b_[std::size_t(i)];
}

// F.interpolate(bilinear, align_corners=True) of the side×side table at each patch, in f32.
void Qwen3VisionModel::add_positions(int gh, int gw, float* x) const {
    const std::int64_t hid = vc_.hidden_size, S = std::int64_t(gh) * gw;
    const float* table = pos_table_.data<float>();
    auto taps = [&](int index, int size, int t[2], float w[2]) {
        const float src = float(index) * float(side_ - 1) / float(std::max(size - 1, 1));
        const float f = std::floor(src);
        for (int k = 0; k < 2; ++k) {
            t[k] = std::clamp(int(f) + k, 0, side_ - 1);
            w[k] = std::max(1.0f - std::fabs(src - f - float(k)), 0.0f);
        }
    };
    for (std::int64_t i = 0; i < S; ++i) {
        int r, c, th[2], tw[2];
        float wh[2], ww[2];
        patch_rc(i, gw, vc_.spatial_merge_size, r, c);
        taps(r, gh, th, wh);
        taps(c, gw, tw, ww);
        std::vector<float> acc(std::size_t(hid), 0.0f);
        for (int a = 0; a < 2; ++a)
            for (int b = 0; b < 2; ++b) {
                const float w = wh[a] * ww[b];
                const float* row = table + (std::int64_t(th[a]) * side_ + tw[b]) * hid;
                for (std::int64_t k = 0; k < hid; ++k) acc[std::size_t(k)] += row[k] * w;
            }
        for (std::int64_t k = 0; k < hid; ++k) x[i * hid + k] += acc[std::size_t(k)];
    }
}

void Qwen3VisionModel::block(const Block& b, float* x, std::int64_t S,
                             const std::vector<float>& cos, const std::vector<float>& sin,
                             const std::function<void()>& poll) const {
    const std::int64_t hid = vc_.hidden_size, heads = vc_.num_heads, hd = hid / heads,
                       half = hd / 2, I = vc_.intermediate_size;
    std::vector<float> n(std::size_t(S * hid)), qkv(std::size_t(S * 3 * hid));
    layer_norm(x, S, hid, b.n1w, b.n1b, n.data());
    apply(b.qkv, n.data(), S, qkv.data(), pool_);
    // qkv rows are (3, heads, hd); rotate q and k, then gather each head contiguously.
    for (std::int64_t s = 0; s < S; ++s)
        for (int part = 0; part < 2; ++part)
            cpu::apply_rope(&qkv[std::size_t((s * 3 + part) * hid)], heads, half,
                            &cos[std::size_t(s * half)], &sin[std::size_t(s * half)]);
    const float scale = 1.0f / std::sqrt(float(hd));
    std::vector<float> attn(std::size_t(S * hid));
    std::vector<float> q(std::size_t(S * hd)), k(std::size_t(S * hd)), v(std::size_t(S * hd));
    const std::int64_t chunk = 256;  // query rows per score block: bounded memory on big images
    std::vector<float> scores(std::size_t(std::min(S, chunk) * S)),
        out(std::size_t(std::min(S, chunk) * hd));
    for (std::int64_t h = 0; h < heads; ++h) {
        for (std::int64_t s = 0; s < S; ++s)
            for (std::int64_t d = 0; d < hd; ++d) {
                q[std::size_t(s * hd + d)] = qkv[std::size_t((s * 3 + 0) * hid + h * hd + d)];
                k[std::size_t(s * hd + d)] = qkv[std::size_t((s * 3 + 1) * hid + h * hd + d)];
                v[std::size_t(s * hd + d)] = qkv[std::size_t((s * 3 + 2) * hid + h * hd + d)];
            }
        const WeightView kw{k.data(), DType::F32, S, hd, hd, Layout::out_in};
        const WeightView vw{v.data(), DType::F32, S, hd, hd, Layout::in_out};
        for (std::int64_t q0 = 0; q0 < S; q0 += chunk) {
            const std::int64_t rows = std::min(chunk, S - q0);
            cpu::linear(&q[std::size_t(q0 * hd)], rows, kw, scores.data(), pool_);
            pool_.parallel_for(rows, 8, [&](std::int64_t r0, std::int64_t r1) {
                for (std::int64_t r = r0; r < r1; ++r) {  // fp32 softmax
                    float* row = &scores[std::size_t(r * S)];
                    float mx = -INFINITY;
                    for (std::int64_t j = 0; j < S; ++j) mx = std::max(mx, row[j] * scale);
                    float sum = 0;
                    for (std::int64_t j = 0; j < S; ++j)
                        sum += row[j] = std::exp(row[j] * scale - mx);
                    for (std::int64_t j = 0; j < S; ++j) row[j] /= sum;
                }
            });
            cpu::linear(scores.data(), rows, vw, out.data(), pool_);
            if (poll) poll();
            for (std::int64_t r = 0; r < rows; ++r)
                std::memcpy(&attn[std::size_t((q0 + r) * hid + h * hd)], &out[std::size_t(r * hd)],
                            std::size_t(hd) * sizeof(float));
        }
    }
    apply(b.proj, attn.data(), S, n.data(), pool_);
    for (std::int64_t i = 0; i < S * hid; ++i) x[i] += n[std::size_t(i)];

    std::vector<float> mid(std::size_t(S * I));
    layer_norm(x, S, hid, b.n2w, b.n2b, n.data());
    apply(b.fc1, n.data(), S, mid.data(), pool_);
    const bool tanh_form = vc_.gelu_tanh;
    for (float& f : mid) f = tanh_form ? gelu_tanh(f) : gelu_erf(f);
    apply(b.fc2, mid.data(), S, n.data(), pool_);
    for (std::int64_t i = 0; i < S * hid; ++i) x[i] += n[std::size_t(i)];
}

std::vector<float> Qwen3VisionModel::merge(const Merger& m, const float* x, std::int64_t S) const {
    const std::int64_t hid = vc_.hidden_size,
                       m2 = std::int64_t(vc_.spatial_merge_size) * vc_.spatial_merge_size,
                       T = S / m2, wide = hid * m2;
    std::vector<float> n(std::size_t(S * hid)), mid(std::size_t(T * wide)),
        out(std::size_t(T * vc_.out_hidden_size));
    // Consecutive patches form a 2×2 block, so [S, hid] viewed as [S/4, 4·hid] is the shuffle.
    if (m.postshuffle)
        layer_norm(x, T, wide, m.nw, m.nb, n.data());
    else
        layer_norm(x, S, hid, m.nw, m.nb, n.data());
    apply(m.fc1, n.data(), T, mid.data(), pool_);
    for (float& f : mid) f = gelu_erf(f);
    apply(m.fc2, mid.data(), T, out.data(), pool_);
    return out;
}

VisionFeatures Qwen3VisionModel::encode(const PixelValues& px, const Trace& trace,
                                        const std::function<void()>& poll) const {
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
    std::vector<float> x(std::size_t(S * hid));
    patch_embed(px, x.data());
    if (trace) {
        trace("patch_embed", -1, x.data(), S, hid);
        std::vector<float> pos(std::size_t(S * hid), 0.0f);
        add_positions(gh, gw, pos.data());
        trace("pos_embed", -1, pos.data(), S, hid);
    }
    add_positions(gh, gw, x.data());

    // 2-D rotary tables: the first hd/4 angles follow the row, the next hd/4 the column.
    const std::int64_t half = hid / vc_.num_heads / 2, quarter = half / 2;
    std::vector<float> cos(std::size_t(S * half)), sin(std::size_t(S * half));
    for (std::int64_t i = 0; i < S; ++i) {
        int r, c;
        patch_rc(i, gw, m, r, c);
        for (std::int64_t j = 0; j < quarter; ++j) {
            const float ah = float(r) * inv_freq_[std::size_t(j)],
                        aw = float(c) * inv_freq_[std::size_t(j)];
            cos[std::size_t(i * half + j)] = std::cos(ah);
            sin[std::size_t(i * half + j)] = std::sin(ah);
            cos[std::size_t(i * half + quarter + j)] = std::cos(aw);
            sin[std::size_t(i * half + quarter + j)] = std::sin(aw);
        }
    }

    VisionFeatures out;
    out.tokens = S / (m * m);
    out.width = vc_.out_hidden_size;
    for (int n = 0; n < vc_.depth; ++n) {
        block(blocks_[std::size_t(n)], x.data(), S, cos, sin, poll);
        if (trace) trace("block", n, x.data(), S, hid);
        const auto& ds = vc_.deepstack_visual_indexes;
        const auto it = std::find(ds.begin(), ds.end(), n);
        if (it != ds.end()) {
            const int k = int(it - ds.begin());
            out.deepstack.push_back(merge(mergers_[std::size_t(1 + k)], x.data(), S));
            if (trace) trace("deepstack", k, out.deepstack.back().data(), out.tokens, out.width);
        }
    }
    out.merged = merge(mergers_[0], x.data(), S);
    if (trace) trace("merged", -1, out.merged.data(), out.tokens, out.width);
    return out;
}

}  // namespace deskpilot::model::engine
