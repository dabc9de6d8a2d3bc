// Image operations on frames (OpenCV): resize, crop and the annotations that reports and the
// panel draw over screenshots to show what an action did. Frames are immutable once made, so
// every operation returns a new frame.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vision/frame.h"
#include "vision/image_io.h"

namespace deskpilot::vision {

enum class Interpolation { area, linear, cubic, nearest };

// The frame scaled to `size` (area averaging by default: the right filter for shrinking
// screenshots). Throws ImageError for an empty frame or a non-positive size.
Frame resize(const Frame& frame, Size size, Interpolation interpolation = Interpolation::area);

// The part of the frame inside `rect` (given as for crop), each pixel repeated into a 2x2 block:
// an exact enlargement, the same pixels on every platform and in numpy's repeat (the agent's
// second look shows the model a region so). Throws ImageError as crop does.
Frame enlarge_twice(const Frame& frame, const Rect& rect);

// The part of the frame inside `rect`, given in the frame's own pixels (0,0 = its top-left);
// clipped to the frame. The result's origin is in root-window pixels like the source's.
// Throws ImageError when the rectangle misses the frame.
Frame crop(const Frame& frame, const Rect& rect);

struct Colour {
    std::uint8_t r = 0, g = 0, b = 0;
};

struct Annotation {
    enum class Kind { click, drag, scroll, label };
    enum class Direction { up, down, left, right };
    Kind kind = Kind::click;
    Point at;                               // click / drag start / scroll point / label's top-left
    Point to;                               // drag end
    Direction direction = Direction::down;  // scroll
    std::string text;                       // label (ASCII; other characters draw as '?')
    Colour colour{230, 30, 30};
};

Annotation click_marker(Point at);
Annotation drag_arrow(Point from, Point to);
Annotation scroll_arrow(Point at, Annotation::Direction direction);
Annotation text_label(Point at, std::string text);

// Draws the annotations over a copy of the frame. Points are root-window pixels, as actions
// give them; the frame's origin is subtracted, so a crop or monitor capture still lines up.
Frame annotate(const Frame& frame, const std::vector<Annotation>& annotations);

}  // namespace deskpilot::vision
