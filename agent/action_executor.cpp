#include "agent/action_executor.h"

#include "actuators/key_names.h"

namespace deskpilot::agent {

namespace {

using planner::ActionError;
using planner::ActionType;

std::string describe(const planner::Action& a) {
    return "action \"" + std::string(planner::to_string(a.type)) + "\"";
}

actuators::ScrollDirection direction_of(const planner::Action& a) {
    if (a.direction == "up") return actuators::ScrollDirection::up;
    if (a.direction == "down") return actuators::ScrollDirection::down;
    if (a.direction == "left") return actuators::ScrollDirection::left;
    if (a.direction == "right") return actuators::ScrollDirection::right;
    throw ActionError(describe(a) + ": direction must be up, down, left or right, not \"" +
                      a.direction + "\"");
}

void check_point(const planner::Action& a, const std::optional<vision::Point>& p, const char* which,
                 const std::vector<vision::Monitor>& monitors) {
    if (!p) throw ActionError(describe(a) + " needs " + which);
    if (monitors.empty() || vision::monitor_at(monitors, *p)) return;
    std::string list;
    for (const auto& m : monitors)
        list += (list.empty() ? "" : ", ") + std::to_string(m.rect.width) + "x" +
                std::to_string(m.rect.height) + "+" + std::to_string(m.rect.x) + "+" +
                std::to_string(m.rect.y);
    throw ActionError(describe(a) + ": point (" + std::to_string(p->x) + "," +
                      std::to_string(p->y) + ") lies on no monitor (monitors: " + list + ")");
}

}  // namespace

ActionExecutor::ActionExecutor(actuators::Actuator& actuator, ActionExecutorOptions options)
    : actuator_(actuator), options_(options) {}

void ActionExecutor::validate(const planner::Action& a) {
    if (a.out_of_range)
        throw ActionError(describe(a) + ": the model's coordinate lies outside the screen");
    const auto shape = planner::shape_of(a.type);
    std::vector<vision::Monitor> monitors;
    if (shape.point || shape.end_point) monitors = actuator_.monitors();
    if (shape.point) check_point(a, a.point, "x and y", monitors);
    if (shape.end_point) check_point(a, a.end, "x2 and y2", monitors);
    if (shape.keys) {
        if (a.keys.empty()) throw ActionError(describe(a) + " needs at least one key");
        for (const auto& k : a.keys)
            if (!actuators::keysym_for_key_name(k))
                throw ActionError(describe(a) + ": unknown key name \"" + k + "\"");
    }
    if (a.type == ActionType::type) {
        std::vector<char32_t> cps;
        try {
            cps = actuators::decode_utf8(a.text);
        } catch (const actuators::ActuatorError& e) {
            throw ActionError(describe(a) + ": " + e.what());
        }
        for (std::size_t i = 0; i < cps.size(); ++i)
            if (!actuators::keysym_for_codepoint(cps[i]))
                throw ActionError(describe(a) + ": text has a control character at position " +
                                  std::to_string(i) + " that cannot be typed");
    }
    if (shape.direction) direction_of(a);
    if (a.type == ActionType::open_app || a.type == ActionType::press_home ||
        a.type == ActionType::press_back)
        throw ActionError(describe(a) + " is a phone action; the X11 desktop cannot perform it");
}

void ActionExecutor::validate(const std::vector<planner::Action>& actions) {
    for (std::size_t i = 0; i < actions.size(); ++i) {
        try {
            validate(actions[i]);
        } catch (const ActionError& e) {
            throw ActionError("action " + std::to_string(i + 1) + ": " + e.what());
        }
    }
}

ActionOutcome ActionExecutor::execute(const planner::Action& a) {
    validate(a);
    using actuators::MouseButton;
    switch (a.type) {
        case ActionType::click:
            actuator_.click(*a.point, MouseButton::left, 1);
            break;
        case ActionType::left_double:
            actuator_.click(*a.point, MouseButton::left, 2);
            break;
        case ActionType::right_single:
            actuator_.click(*a.point, MouseButton::right, 1);
            break;
        case ActionType::hover:
            actuator_.move(*a.point);
            break;
        case ActionType::long_press:
            actuator_.move(*a.point);
            actuator_.button(MouseButton::left, true);
            actuator_.wait(options_.long_press);
            actuator_.button(MouseButton::left, false);
            break;
        case ActionType::drag:
            actuator_.drag(*a.point, *a.end, MouseButton::left);
            break;
        case ActionType::hotkey:
            actuator_.hotkey(a.keys);
            break;
        case ActionType::press:
            for (const auto& k : a.keys) actuator_.key(k, true);
            break;
        case ActionType::release:
            for (auto it = a.keys.rbegin(); it != a.keys.rend(); ++it) actuator_.key(*it, false);
            break;
        case ActionType::type:
            actuator_.type_text(a.text);
            break;
        case ActionType::scroll:
            actuator_.scroll(*a.point, direction_of(a), options_.scroll_clicks);
            break;
        case ActionType::wait:
            actuator_.wait(options_.wait_duration);
            break;
        case ActionType::finished:
            return ActionOutcome::finished;
        case ActionType::call_user:
            return ActionOutcome::call_user;
        case ActionType::open_app:
        case ActionType::press_home:
        case ActionType::press_back:
            break;  // refused by validate()
    }
    return ActionOutcome::performed;
}

}  // namespace deskpilot::agent
