// smart_resize: the image size a Qwen-VL-family model sees, as its Python image processors
// compute it. Coordinates of models that answer in "absolute pixels" (UI-TARS-1.5,
// Qwen2.5-VL) are pixels of this resized image, so capture, request encoding and the planner
// must all agree on it exactly.
#pragma once

#include <cstdint>
#include <stdexcept>

#include "vision/frame.h"

namespace deskpilot::vision {

struct SmartResizeParams {
    int factor = 28;              // both sides become multiples of this
    std::int64_t min_pixels = 0;  // area bounds of the result
    std::int64_t max_pixels = 0;
    double max_aspect_ratio = 200.0;  // larger ratios are rejected, as the processors do
};

// UI-TARS parser: factor 28, 100·28² to 16384·28² pixels.
inline constexpr SmartResizeParams kUiTarsResize{28, 100LL * 28 * 28, 16384LL * 28 * 28, 200.0};
// Qwen2.5-VL image processor: factor 28 (patch 14 × merge 2), 3136 to 12845056 pixels.
inline constexpr SmartResizeParams kQwen25VlResize{28, 3136, 12845056, 200.0};
// Qwen3-VL image processor: factor 32 (patch 16 × merge 2), 65536 to 16777216 pixels.
inline constexpr SmartResizeParams kQwen3VlResize{32, 65536, 16777216, 200.0};

class ResizeError : public std::invalid_argument {
  public:
    using std::invalid_argument::invalid_argument;
};

// Rounds like Python 3's round(): halves go to the even neighbour (2.5 -> 2, 3.5 -> 4).
double round_half_even(double value);

// The resized (width, height). Throws ResizeError for an empty image or an aspect ratio above
// params.max_aspect_ratio, naming the size.
Size smart_resize(Size original, const SmartResizeParams& params);

}  // namespace deskpilot::vision
