// The interface of a vision tower as the VLM wrapper drives it: pixel values of one image in,
// the merged tokens the decoder places at its <|image_pad|> positions out (plus DeepStack
// features for Qwen3-VL). Qwen3VisionModel and Qwen25VisionModel implement it.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "model/engine/arch/text_decoder.h"
#include "model/engine/vision/preprocess.h"

namespace deskpilot::model::engine {

struct VisionFeatures {
    std::int64_t tokens = 0;                    // merged tokens (patches / 4)
    std::int64_t width = 0;                     // out_hidden_size
    std::vector<float> merged;                  // [tokens, width], in raster order
    std::vector<std::vector<float>> deepstack;  // one [tokens, width] per DeepStack block
};

class VisionEncoder {
  public:
    virtual ~VisionEncoder() = default;
    // One image. Throws std::invalid_argument when the pixel values do not fit the config.
    // `poll` is called often (after every block of attention rows) so a caller can abandon the
    // pass by throwing from it; `trace` reports named intermediates.
    virtual VisionFeatures encode(const PixelValues& pixels, const Trace& trace = {},
                                  const std::function<void()>& poll = {}) const = 0;
};

}  // namespace deskpilot::model::engine
