#include "actuators/dry_run_actuator.h"

namespace deskpilot::actuators {

namespace {

std::string str(Point p) {
    return "(" + std::to_string(p.x) + "," + std::to_string(p.y) + ")";
}

const char* str(MouseButton b) {
    switch (b) {
        case MouseButton::left:
            return "left";
        case MouseButton::middle:
            return "middle";
        case MouseButton::right:
            return "right";
    }
    return "?";
}

const char* str(ScrollDirection d) {
    switch (d) {
        case ScrollDirection::up:
            return "up";
        case ScrollDirection::down:
            return "down";
        case ScrollDirection::left:
            return "left";
        case ScrollDirection::right:
            return "right";
    }
    return "?";
}

}  // namespace

void DryRunActuator::move(Point to) {
    log_.push_back("move to " + str(to));
}

void DryRunActuator::click(Point at, MouseButton button, int count) {
    log_.push_back(std::string("click ") + str(button) + " x" + std::to_string(count) + " at " +
                   str(at));
}

void DryRunActuator::button(MouseButton button, bool down) {
    log_.push_back(std::string("button ") + str(button) + (down ? " down" : " up"));
}

void DryRunActuator::drag(Point from, Point to, MouseButton button) {
    log_.push_back(std::string("drag ") + str(button) + " from " + str(from) + " to " + str(to));
}

void DryRunActuator::scroll(Point at, ScrollDirection direction, int clicks) {
    log_.push_back(std::string("scroll ") + str(direction) + " x" + std::to_string(clicks) +
                   " at " + str(at));
}

void DryRunActuator::key(const std::string& name, bool down) {
    log_.push_back("key " + name + (down ? " down" : " up"));
}

void DryRunActuator::hotkey(const std::vector<std::string>& keys) {
    std::string line = "hotkey";
    for (const auto& k : keys) line += " " + k;
    log_.push_back(line);
}

void DryRunActuator::type_text(const std::string& utf8) {
    log_.push_back("type " + utf8);
}

void DryRunActuator::wait(std::chrono::milliseconds duration) {
    log_.push_back("wait " + std::to_string(duration.count()) + " ms");
}

}  // namespace deskpilot::actuators
