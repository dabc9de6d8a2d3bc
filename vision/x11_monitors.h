// Monitors of an X display: RandR 1.5 monitors, or Xinerama heads when Xinerama joins several
// X screens (RandR then only sees one of them), or the root window as a last resort.
#pragma once

#include <vector>

#include "vision/monitor.h"

struct _XDisplay;

namespace deskpilot::vision {

std::vector<Monitor> query_x11_monitors(_XDisplay* display);

}  // namespace deskpilot::vision
