// Bridging Frame and cv::Mat inside vision/ (not part of the public headers: callers outside
// vision/ do not see OpenCV).
#pragma once

#include <cstring>
#include <memory>

#include <opencv2/core.hpp>

#include "vision/frame.h"

namespace deskpilot::vision::detail {

// The frame's pixels as a BGRA cv::Mat, without copying. Read-only by convention.
inline cv::Mat view_of(const Frame& frame) {
    return cv::Mat(frame.height, frame.width, CV_8UC4,
                   const_cast<std::uint8_t*>(frame.pixels->data()), frame.stride);
}

// A new frame owning a copy of a BGRA matrix; other fields come from `like`.
inline Frame frame_from(const cv::Mat& bgra, const Frame& like = {}, Point origin = {}) {
    Frame out = like;
    out.width = bgra.cols;
    out.height = bgra.rows;
    out.stride = static_cast<std::size_t>(bgra.cols) * 4;
    out.origin = origin;
    auto pixels = std::make_shared<std::vector<std::uint8_t>>(out.stride * out.height);
    for (int y = 0; y < bgra.rows; ++y)
        std::memcpy(pixels->data() + y * out.stride, bgra.ptr(y), out.stride);
    out.pixels = std::move(pixels);
    return out;
}

}  // namespace deskpilot::vision::detail
