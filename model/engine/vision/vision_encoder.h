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
    // `trace` reports named intermediates. A cpu::StopScope on the calling thread abandons the
    // pass within a few ms (cpu::Stopped): its work runs as pool jobs of bounded chunks.
    virtual VisionFeatures encode(const PixelValues& pixels, const Trace& trace = {}) const = 0;
};

}  // namespace deskpilot::model::engine
