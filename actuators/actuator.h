// actuators::Actuator: the agent's hands. Backends (X11 XTest, dry run) sit behind this
// interface; coordinates are root-window pixels.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "vision/frame.h"
#include "vision/monitor.h"

namespace deskpilot::actuators {

using vision::Point;

enum class MouseButton { left = 1, middle = 2, right = 3 };
enum class ScrollDirection { up, down, left, right };

// Input the backend refuses before sending anything (unknown key, point on no monitor, ...).
class ActuatorError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class Actuator {
  public:
    virtual ~Actuator() = default;
    virtual void move(Point to) = 0;
    virtual void click(Point at, MouseButton button = MouseButton::left, int count = 1) = 0;
    virtual void button(MouseButton button, bool down) = 0;
    virtual void drag(Point from, Point to, MouseButton button = MouseButton::left) = 0;
    virtual void scroll(Point at, ScrollDirection direction, int clicks = 5) = 0;
    virtual void key(const std::string& name, bool down) = 0;
    // Presses the keys in order and releases them in reverse.
    virtual void hotkey(const std::vector<std::string>& keys) = 0;
    // Types UTF-8 text; "\n" types Return and "\t" Tab.
    virtual void type_text(const std::string& utf8) = 0;
    virtual void wait(std::chrono::milliseconds duration) = 0;
    // The monitors points must lie on, so a caller can check a whole batch of actions before
    // any is sent. Empty: this backend does not know (any point is accepted).
    virtual std::vector<vision::Monitor> monitors() { return {}; }
};

}  // namespace deskpilot::actuators
