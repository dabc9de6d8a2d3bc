#include "panel/run_state.h"

namespace deskpilot::panel {

ControlEnables enables_for(RunState state) {
    ControlEnables e;
    switch (state) {
        case RunState::idle:
            e.run = e.form = true;
            break;
        case RunState::running:
            e.pause = e.stop = true;
            break;
        case RunState::paused:
            e.resume = e.step = e.stop = true;
            break;
        case RunState::awaiting_approval:
            e.approval = e.stop = true;
            break;
        case RunState::awaiting_reply:
            e.stop = true;
            break;
        case RunState::stopping:
            break;  // everything waits for the worker to end
        case RunState::starting:
            e.stop = true;  // drops the backend being built
            break;
    }
    return e;
}

QString to_string(RunState state) {
    switch (state) {
        case RunState::idle:
            return QStringLiteral("Idle");
        case RunState::running:
            return QStringLiteral("Running");
        case RunState::paused:
            return QStringLiteral("Paused");
        case RunState::awaiting_approval:
            return QStringLiteral("Waiting for approval");
        case RunState::awaiting_reply:
            return QStringLiteral("Waiting for your reply");
        case RunState::stopping:
            return QStringLiteral("Stopping");
        case RunState::starting:
            return QStringLiteral("Starting");
    }
    return {};
}

}  // namespace deskpilot::panel
