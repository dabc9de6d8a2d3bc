// vision::Monitor: one physical screen area inside the root window.
#pragma once

#include <string>
#include <vector>

#include "vision/frame.h"

namespace deskpilot::vision {

struct Monitor {
    int index = 0;     // position in the list, the id Frame::monitor and --monitor use
    std::string name;  // RandR output/monitor name, or "xinerama-N"
    Rect rect;         // root-window pixels
    bool primary = false;
    friend bool operator==(const Monitor&, const Monitor&) = default;
};

// The monitor containing `p`, or nullptr when the point lies on none.
inline const Monitor* monitor_at(const std::vector<Monitor>& monitors, Point p) {
    for (const auto& m : monitors)
        if (m.rect.contains(p)) return &m;
    return nullptr;
}

}  // namespace deskpilot::vision
