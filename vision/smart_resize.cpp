#include "vision/smart_resize.h"

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <string>

namespace deskpilot::vision {

double round_half_even(double value) {
    // nearbyint honours the current rounding mode, which is round-to-nearest-even unless a
    // caller changed it; make sure of it for the duration.
    const int previous = std::fegetround();
    std::fesetround(FE_TONEAREST);
    const double r = std::nearbyint(value);
    std::fesetround(previous);
    return r;
}

Size smart_resize(Size original, const SmartResizeParams& p) {
    const double h = original.height, w = original.width;
    if (original.width <= 0 || original.height <= 0)
        throw ResizeError("cannot resize an empty image (" + std::to_string(original.width) + "x" +
                          std::to_string(original.height) + ")");
    if (std::max(h, w) / std::min(h, w) > p.max_aspect_ratio)
        throw ResizeError("image " + std::to_string(original.width) + "x" +
                          std::to_string(original.height) + " has an aspect ratio above " +
                          std::to_string(static_cast<int>(p.max_aspect_ratio)));
    const double f = p.factor;
    double h_bar = std::max(f, round_half_even(h / f) * f);
    double w_bar = std::max(f, round_half_even(w / f) * f);
    if (p.max_pixels > 0 && h_bar * w_bar > static_cast<double>(p.max_pixels)) {
        const double beta = std::sqrt(h * w / static_cast<double>(p.max_pixels));
        h_bar = std::max(f, std::floor(h / beta / f) * f);
        w_bar = std::max(f, std::floor(w / beta / f) * f);
    } else if (p.min_pixels > 0 && h_bar * w_bar < static_cast<double>(p.min_pixels)) {
        const double beta = std::sqrt(static_cast<double>(p.min_pixels) / (h * w));
        h_bar = std::ceil(h * beta / f) * f;
        w_bar = std::ceil(w * beta / f) * f;
    }
    return {static_cast<int>(w_bar), static_cast<int>(h_bar)};
}

}  // namespace deskpilot::vision
