// agent::ActionExecutor: performs planner::Actions on an actuators::Actuator. It checks an
// action completely (key names, text, points on a monitor, desktop support) before it sends
// anything, so a batch can be validated as a whole first (deskpilot act does).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "actuators/actuator.h"
#include "planner/action.h"

namespace deskpilot::agent {

struct ActionExecutorOptions {
    int scroll_clicks = 5;                          // wheel clicks per scroll action
    std::chrono::milliseconds wait_duration{5000};  // "wait()": UI-TARS waits about 5 s
    std::chrono::milliseconds long_press{1000};
};

// What executing an action meant for the loop.
enum class ActionOutcome {
    performed,  // input was sent (or, for wait, time passed)
    finished,   // the task is done; nothing sent
    call_user,  // the model asks for a person; nothing sent
};

class ActionExecutor {
  public:
    explicit ActionExecutor(actuators::Actuator& actuator, ActionExecutorOptions options = {});

    // Throws planner::ActionError naming the action and the problem when it cannot be
    // performed here: unknown key name, text that cannot be typed, a point on no monitor (as
    // the actuator reports its monitors), an out-of-range model coordinate, or a phone-only
    // action (open_app, press_home, press_back).
    void validate(const planner::Action& action);
    void validate(const std::vector<planner::Action>& actions);

    // validate(), then performs it.
    ActionOutcome execute(const planner::Action& action);

  private:
    actuators::Actuator& actuator_;
    ActionExecutorOptions options_;
};

}  // namespace deskpilot::agent
