// DryRunActuator records what it would do instead of doing it: for --dry-run and previews.
#pragma once

#include <string>
#include <vector>

#include "actuators/actuator.h"

namespace deskpilot::actuators {

class DryRunActuator : public Actuator {
  public:
    // With monitors, points are checked against them as a real backend would; without, any
    // point is accepted.
    explicit DryRunActuator(std::vector<vision::Monitor> monitors = {})
        : monitors_(std::move(monitors)) {}

    void move(Point to) override;
    void click(Point at, MouseButton button, int count) override;
    void button(MouseButton button, bool down) override;
    void drag(Point from, Point to, MouseButton button) override;
    void scroll(Point at, ScrollDirection direction, int clicks) override;
    void key(const std::string& name, bool down) override;
    void hotkey(const std::vector<std::string>& keys) override;
    void type_text(const std::string& utf8) override;
    void wait(std::chrono::milliseconds duration) override;
    std::vector<vision::Monitor> monitors() override { return monitors_; }

    // One human-readable line per call, in order, e.g. "click left x1 at (10,20)".
    const std::vector<std::string>& log() const { return log_; }

  private:
    std::vector<std::string> log_;
    std::vector<vision::Monitor> monitors_;
};

}  // namespace deskpilot::actuators
