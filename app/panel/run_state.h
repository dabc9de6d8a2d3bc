// The panel's run states and which controls each allows. Kept apart from the window so the
// rules are tested on their own and the window only applies them.
#pragma once

#include <QString>

namespace deskpilot::panel {

// starting: the backend (model, display) is being built off the GUI thread; only Stop works.
enum class RunState {
    idle,
    running,
    paused,
    awaiting_approval,
    awaiting_reply,
    stopping,
    starting
};

struct ControlEnables {
    bool run = false, pause = false, resume = false, step = false, stop = false;
    bool approval = false;  // Approve / Edit / Reject
    bool form = false;      // the start-run settings
    friend bool operator==(const ControlEnables&, const ControlEnables&) = default;
};

ControlEnables enables_for(RunState state);
QString to_string(RunState state);

}  // namespace deskpilot::panel
