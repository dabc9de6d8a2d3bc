// A Qwen vision-language model as a whole (Qwen3-VL-MoE or Qwen2.5-VL): the vision tower
// feeding the text decoder, with multimodal rotary positions (transformers' get_rope_index, the
// same for both on still images) and KV-cached continuation.
//   prompt ids (each image already expanded to t·h·w/merge² <|image_pad|> tokens)
//   → positions: text runs count on; an image's tokens take (start, start+row, start+col) over
//     its merged grid and the text after it resumes at start + max(rows, cols)
//   → rope_delta = max position + 1 − length; decode step n sits at n + rope_delta on all axes.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "model/engine/arch/text_decoder.h"
#include "model/engine/vision/preprocess.h"
#include "model/engine/vision/vision_encoder.h"

namespace deskpilot::model::engine {

// Positions of a whole prompt and its rope_delta. `grids` are the images' grid_thw (patches),
// in prompt order; `merge` the spatial merge size. Throws std::invalid_argument if the image
// tokens do not add up to the grids.
Positions multimodal_positions(std::span<const std::int32_t> ids, std::int32_t image_token_id,
                               std::span<const std::array<int, 3>> grids, int merge,
                               std::int64_t& rope_delta);

// The image processor settings a model of `config` was trained with: patch and merge sizes from
// its vision config, resize bounds and mean/std of its architecture (VlModel::preprocess_params;
// NativeVlm then takes a planner family's resize bounds where their factor agrees).
PreprocessParams preprocess_params(const ModelConfig& config);

// The decoding state of one conversation: the ids the cache holds, and the rope delta.
struct VlmState {
    KvCache cache;
    std::vector<std::int32_t> ids;
    // A fingerprint of each image's pixel values in `ids`, in order: the same placeholder tokens
    // stand for any image of the same size, so reuse must also compare what they showed.
    std::vector<std::uint64_t> images;
    std::int64_t rope_delta = 0;
};

// A 64-bit fingerprint of an image's pixel values and grid (not cryptographic: it tells a
// changed screenshot from the one a cache holds).
std::uint64_t image_fingerprint(const PixelValues& image);

class VlModel {
  public:
    // The decoder and tower for config.architecture (qwen3_vl_moe, qwen2_5_vl). Throws
    // ConfigError for an architecture without a vision tower, CheckpointError for broken
    // tensors.
    VlModel(ModelConfig config, std::shared_ptr<const Checkpoint> checkpoint,
            cpu::ThreadPool& pool = cpu::ThreadPool::global());

    const ModelConfig& config() const { return text_->config(); }
    TextDecoder& text() { return *text_; }
    // Swaps the decoder for another recipe of the same model (the CUDA decoder built from
    // text(), say); states from new_state() before the swap must not be used after it. Throws
    // std::invalid_argument for a null decoder or one of another architecture.
    void replace_text(std::unique_ptr<TextDecoder> text);
    const VisionEncoder& vision() const { return *vision_; }
    // Swaps the vision tower for another recipe of the same weights (the CUDA tower, say).
    // Throws std::invalid_argument for a null tower.
    void replace_vision(std::unique_ptr<VisionEncoder> vision);
    // The image processor settings this model was trained with (patch and merge sizes from the
    // config; resize bounds and mean/std of its family).
    PreprocessParams preprocess_params() const;
    VlmState new_state() const;

    // Brings `state` to `ids` (images in order) and returns the logits of the last token (all
    // new tokens' if `all_logits`). When state.ids is a prefix of `ids` that ends outside an
    // image, only the rest is computed (an agent's conversation that only grew); otherwise the
    // cache is rolled back to the longest such prefix. An image whose pixels differ from those
    // the cache saw at its place ends the prefix there, though its tokens are the same (the
    // agent's second look asks the same prompt on another view). At least the last token is
    // recomputed.
    std::vector<float> prefill(std::span<const std::int32_t> ids,
                               std::span<const PixelValues> images, VlmState& state,
                               bool all_logits = false, const Trace& trace = {});
    // The same, with each image's image_fingerprint() given, in the order of `images`: NativeVlm
    // computes it once, when it prepares a screenshot, and keeps it beside the pixel values, for
    // a conversation shows each screenshot again on later steps (a 1080p image's fingerprint is
    // several ms of one core). Throws std::invalid_argument when the counts differ.
    std::vector<float> prefill(std::span<const std::int32_t> ids,
                               std::span<const PixelValues> images,
                               std::span<const std::uint64_t> fingerprints, VlmState& state,
                               bool all_logits = false, const Trace& trace = {});
    // A cpu::StopScope on the calling thread (or throwing from `trace`) abandons the pass
    // (cpu::Stopped, within a few ms: every long op is pool jobs of bounded chunks) and leaves
    // `state` at the reused prefix: the cache length and ids move only when a pass completes.
    // The same holds for decode().
    // One generated token appended to the state; its logits.
    std::vector<float> decode(std::int32_t id, VlmState& state);
    // The same, but the decoder chooses the next token itself (only where
    // text().chooses_tokens(), e.g. on the GPU): returns that token instead of the logits.
    std::int32_t decode_choose(std::int32_t id, VlmState& state, const TokenChoice& choice);

    // Tokens reused from the cache by the last prefill (for tests and logs).
    std::int64_t last_reused() const { return last_reused_; }
    // Seconds the last prefill spent in the vision tower (for timing breakdowns).
    double last_vision_seconds() const { return last_vision_seconds_; }

  private:
    std::unique_ptr<TextDecoder> text_;
    std::unique_ptr<VisionEncoder> vision_;
    std::int64_t last_reused_ = 0;
    double last_vision_seconds_ = 0;
};

// The name this class had when it ran Qwen3-VL only.
using Qwen3VlModel = VlModel;

}  // namespace deskpilot::model::engine
