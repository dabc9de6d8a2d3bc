#include "model/engine/arch/vl_model.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <stdexcept>
#include <string>

#include "model/engine/arch/qwen2_5_vl.h"
#include "model/engine/arch/qwen3_vl_moe.h"
#include "model/engine/vision/qwen2_5_vision.h"
#include "model/engine/vision/qwen3_vision.h"

namespace deskpilot::model::engine {

Positions multimodal_positions(std::span<const std::int32_t> ids, std::int32_t image_token_id,
                               std::span<const std::array<int, 3>> grids, int merge,
                               std::int64_t& rope_delta) {
    Positions p;
    std::int64_t next = 0, max_pos = -1;
    std::size_t image = 0;
    auto push = [&](std::int64_t t, std::int64_t h, std::int64_t w) {
        p.t.push_back(t);
        p.h.push_back(h);
        p.w.push_back(w);
        max_pos = std::max({max_pos, t, h, w});
    };
    for (std::size_t i = 0; i < ids.size();) {
        if (ids[i] != image_token_id) {
            push(next, next, next);
            ++next;
            ++i;
            continue;
        }
        if (image >= grids.size())
            throw std::invalid_argument("the prompt has more image tokens than its " +
                                        std::to_string(grids.size()) + " image(s) need");
        const auto [gt, gh, gw] = grids[image++];
        const std::int64_t rows = gh / merge, cols = gw / merge,
                           count = std::int64_t(gt) * rows * cols;
        for (std::int64_t k = 0; k < count; ++k) {
            if (i + std::size_t(k) >= ids.size() || ids[i + std::size_t(k)] != image_token_id)
                throw std::invalid_argument("image " + std::to_string(image) + " needs " +
                                            std::to_string(count) + " image tokens in a row");
            const std::int64_t frame = k / (rows * cols), r = (k / cols) % rows, c = k % cols;
            push(next + frame, next + r, next + c);
        }
        i += std::size_t(count);
        next += std::max(rows, cols);
    }
    if (image != grids.size())
        throw std::invalid_argument("the prompt has image tokens for " + std::to_string(image) +
                                    " of its " + std::to_string(grids.size()) + " images");
    rope_delta = max_pos + 1 - std::int64_t(ids.size());
    return p;
}

namespace {

std::unique_ptr<VisionEncoder> make_vision(const ModelConfig& c,
                                           std::shared_ptr<const Checkpoint> ck,
                                           cpu::ThreadPool& pool) {
    switch (c.architecture) {
        case Architecture::qwen3_vl_moe:
            return std::make_unique<Qwen3VisionModel>(c, std::move(ck), pool);
        case Architecture::qwen2_5_vl:
            return std::make_unique<Qwen25VisionModel>(c, std::move(ck), pool);
        default:
            throw ConfigError(std::string(architecture_name(c.architecture)) +
                              " has no vision tower (qwen3_vl_moe and qwen2_5_vl have)");
    }
}

}  // namespace

VlModel::VlModel(ModelConfig config, std::shared_ptr<const Checkpoint> checkpoint,
                 cpu::ThreadPool& pool)
    : vision_(make_vision(config, checkpoint, pool)) {
    text_ = make_text_decoder(config, std::move(checkpoint), pool);
}

void VlModel::replace_text(std::unique_ptr<TextDecoder> text) {
    if (!text) throw std::invalid_argument("replace_text: no decoder");
    if (text->config().architecture != config().architecture)
        throw std::invalid_argument("replace_text: a decoder for another architecture");
    text_ = std::move(text);
}

void VlModel::replace_vision(std::unique_ptr<VisionEncoder> vision) {
    if (!vision) throw std::invalid_argument("replace_vision: no vision tower");
    vision_ = std::move(vision);
}

PreprocessParams VlModel::preprocess_params() const {
    return engine::preprocess_params(config());
}

PreprocessParams preprocess_params(const ModelConfig& c) {
    PreprocessParams p =
        c.architecture == Architecture::qwen2_5_vl ? kQwen25VlPreprocess : kQwen3VlPreprocess;
    p.patch_size = c.vision->patch_size;
    p.temporal_patch_size = c.vision->temporal_patch_size;
    p.merge_size = c.vision->spatial_merge_size;
    p.resize.factor = p.patch_size * p.merge_size;
    return p;
}

std::uint64_t image_fingerprint(const PixelValues& image) {
    // FNV-1a's offset and prime over 64-bit words, each mixed (a splitmix64 finaliser) first so
    // that nearby float patterns spread: about a millisecond for a 640x384 screenshot.
    std::uint64_t h = 0xcbf29ce484222325ull;
    auto add = [&h](std::uint64_t v) {
        v ^= v >> 30;
        v *= 0xbf58476d1ce4e5b9ull;
        v ^= v >> 27;
        v *= 0x94d049bb133111ebull;
        v ^= v >> 31;
        h = (h ^ v) * 0x100000001b3ull;
    };
    for (int g : image.grid_thw) add(std::uint64_t(std::uint32_t(g)));
    const std::vector<float>& v = image.data;
    auto bits = [&v](std::size_t i) { return std::uint64_t(std::bit_cast<std::uint32_t>(v[i])); };
    std::size_t i = 0;
    for (; i + 1 < v.size(); i += 2) add(bits(i) | bits(i + 1) << 32);
    if (i < v.size()) add(bits(i));
    return h;
}

VlmState VlModel::new_state() const {
    VlmState s;
    s.cache = text_->new_cache();
    return s;
}

std::vector<float> VlModel::prefill(std::span<const std::int32_t> ids,
                                    std::span<const PixelValues> images, VlmState& state,
                                    bool all_logits, const Trace& trace) {
    std::vector<std::uint64_t> fingerprints;
    fingerprints.reserve(images.size());
    for (const PixelValues& px : images) fingerprints.push_back(image_fingerprint(px));
    return prefill(ids, images, fingerprints, state, all_logits, trace);
}

std::vector<float> VlModel::prefill(std::span<const std::int32_t> ids,
                                    std::span<const PixelValues> images,
                                    std::span<const std::uint64_t> fingerprints, VlmState& state,
                                    bool all_logits, const Trace& trace) {
    if (ids.empty()) throw std::invalid_argument("prefill: no tokens");
    if (fingerprints.size() != images.size())
        throw std::invalid_argument("prefill: " + std::to_string(fingerprints.size()) +
                                    " fingerprints for " + std::to_string(images.size()) +
                                    " images");
    const int merge = config().vision->spatial_merge_size;
    const std::int32_t image_id = config().image_token_id;
    std::vector<std::array<int, 3>> grids;
    for (const PixelValues& px : images) grids.push_back(px.grid_thw);
    std::int64_t delta = 0;
    const Positions all = multimodal_positions(ids, image_id, grids, merge, delta);

    // Reuse: the common prefix with what the cache holds, cut back to outside any image and to
    // leave at least one token to run (its logits are the answer).
    std::int64_t keep = 0;
    const std::int64_t held =
        std::min<std::int64_t>(state.cache.length, std::int64_t(state.ids.size()));
    while (keep < held && keep < std::int64_t(ids.size()) - 1 &&
           state.ids[std::size_t(keep)] == ids[std::size_t(keep)])
        ++keep;
    while (keep > 0 && ids[std::size_t(keep)] == image_id && ids[std::size_t(keep - 1)] == image_id)
        --keep;
    // ... and cut back to before the first image that is not the one the cache saw there.
    std::size_t same_images = 0;
    for (std::int64_t i = 0; i < keep;) {
        if (ids[std::size_t(i)] != image_id) {
            ++i;
            continue;
        }
        if (same_images >= state.images.size() || same_images >= fingerprints.size() ||
            state.images[same_images] != fingerprints[same_images]) {
            keep = i;
            break;
        }
        const auto& g = grids[same_images];
        i += std::int64_t(g[0]) * (g[1] / merge) * (g[2] / merge);
        ++same_images;
    }
    state.cache.length = keep;
    state.ids.assign(ids.begin(), ids.begin() + keep);
    state.images.resize(std::min(state.images.size(), same_images));
    last_reused_ = keep;
    last_vision_seconds_ = 0;

    // Images whose tokens lie in the part to compute; their features, concatenated.
    std::vector<float> merged;
    std::vector<std::vector<float>> deepstack;
    std::int64_t image_tokens = 0;
    std::size_t img = 0;
    for (std::size_t i = 0; i < ids.size();) {
        if (ids[i] != image_id) {
            ++i;
            continue;
        }
        const std::int64_t count =
            std::int64_t(grids[img][0]) * (grids[img][1] / merge) * (grids[img][2] / merge);
        if (std::int64_t(i) >= keep) {
            const auto start = std::chrono::steady_clock::now();
            const VisionFeatures f = vision_->encode(images[img], trace);
            last_vision_seconds_ +=
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            merged.insert(merged.end(), f.merged.begin(), f.merged.end());
            deepstack.resize(f.deepstack.size());
            for (std::size_t k = 0; k < f.deepstack.size(); ++k)
                deepstack[k].insert(deepstack[k].end(), f.deepstack[k].begin(),
                                    f.deepstack[k].end());
            image_tokens += count;
        }
        i += std::size_t(count);
        ++img;
    }

    Positions part;
    part.t.assign(all.t.begin() + keep, all.t.end());
    part.h.assign(all.h.begin() + keep, all.h.end());
    part.w.assign(all.w.begin() + keep, all.w.end());
    VisualInjection inj;
    inj.merged = merged.data();
    inj.tokens = image_tokens;
    for (const auto& d : deepstack) inj.deepstack.push_back(d.data());
    const std::span<const std::int32_t> rest = ids.subspan(std::size_t(keep));
    std::vector<float> logits =
        text_->forward(rest, part, state.cache, all_logits, trace, image_tokens ? &inj : nullptr);
    state.ids.assign(ids.begin(), ids.end());
    state.images.assign(fingerprints.begin(), fingerprints.end());
    state.rope_delta = delta;
    return logits;
}

std::vector<float> VlModel::decode(std::int32_t id, VlmState& state) {
    const std::int64_t p = state.cache.length + state.rope_delta;
    Positions pos;
    pos.t = pos.h = pos.w = {p};
    const std::int32_t one[1] = {id};
    std::vector<float> logits = text_->forward(one, pos, state.cache);
    state.ids.push_back(id);
    return logits;
}

std::int32_t VlModel::decode_choose(std::int32_t id, VlmState& state, const TokenChoice& choice) {
    const std::int64_t p = state.cache.length + state.rope_delta;
    Positions pos;
    pos.t = pos.h = pos.w = {p};
    const std::int32_t one[1] = {id};
    const std::int32_t next = text_->forward_choose(one, pos, state.cache, choice);
    state.ids.push_back(id);
    return next;
}

}  // namespace deskpilot::model::engine
