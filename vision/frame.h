// vision::Frame: one captured screen image, the value that flows from capture to the model.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace deskpilot::vision {

struct Point {
    int x = 0;
    int y = 0;
    friend bool operator==(const Point&, const Point&) = default;
};

struct Size {
    int width = 0;
    int height = 0;
    friend bool operator==(const Size&, const Size&) = default;
};

struct Rect {
    int x = 0;
    int y = 0;
    int width = 0;
    int height = 0;
    bool contains(Point p) const {
        return p.x >= x && p.y >= y && p.x < x + width && p.y < y + height;
    }
    Point center() const { return {x + width / 2, y + height / 2}; }
    friend bool operator==(const Rect&, const Rect&) = default;
};

// Pixels are BGRA8 (byte order B, G, R, A in memory), rows `stride` bytes apart. The pixel
// buffer is shared and immutable once captured, so copying a Frame is cheap and frames can be
// handed to other threads (recorder, panel, model) without copying megabytes.
struct Frame {
    int width = 0;
    int height = 0;
    std::size_t stride = 0;                                   // bytes per row
    std::shared_ptr<const std::vector<std::uint8_t>> pixels;  // stride * height bytes
    Point origin;                                             // top-left in root-window pixels
    int monitor = -1;                                         // -1: the whole root window
    double device_pixel_ratio = 1.0;
    std::chrono::steady_clock::time_point timestamp{};  // monotonic capture time

    bool empty() const { return width <= 0 || height <= 0 || !pixels; }
    Size size() const { return {width, height}; }
    const std::uint8_t* row(int y) const {
        return pixels->data() + static_cast<std::size_t>(y) * stride;
    }
    const std::uint8_t* pixel(int x, int y) const {
        return row(y) + 4 * static_cast<std::size_t>(x);
    }
};

}  // namespace deskpilot::vision
