// vision::ScreenSource: where frames come from. Platform backends sit behind this one
// interface and are chosen at run time (OBS-style), so the agent never names X11.
#pragma once

#include <stdexcept>
#include <string>

#include "vision/frame.h"

namespace deskpilot::vision {

// A display that is missing, unreachable or refuses us; the message names the display.
class DisplayError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class ScreenSource {
  public:
    virtual ~ScreenSource() = default;
    // The whole screen (root window) as it is now.
    virtual Frame capture() = 0;
    // Current size of the whole screen in pixels.
    virtual Size screen_size() = 0;
};

}  // namespace deskpilot::vision
