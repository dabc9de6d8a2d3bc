// agent::replay: runs a recorded session again, never blindly. Before each action that has a
// place on the screen, it waits until the live screen shows what the recording showed around
// that place (template matching of a patch); a patch that moved a little re-targets the action
// to where it is now; one that cannot be found stops the replay, naming the step and the
// similarity, and leaves a side-by-side picture. A replay is itself recorded as a new session.
#pragma once

#include <chrono>
#include <climits>
#include <filesystem>
#include <optional>
#include <string>

#include "actuators/actuator.h"
#include "agent/events.h"
#include "agent/run_control.h"
#include "agent/settle.h"
#include "vision/screen_source.h"

namespace deskpilot::agent {

enum class VerifyMode { strict, loose, off };
std::optional<VerifyMode> verify_mode_from_string(const std::string& text);

struct ReplayOptions {
    std::filesystem::path source;       // the recorded session
    std::filesystem::path session_dir;  // where the replay is recorded (must be new)
    double speed = 1.0;                 // >1 shortens the recorded pauses between steps
    VerifyMode verify = VerifyMode::loose;
    int from = 1;
    int to = INT_MAX;
    std::chrono::milliseconds verify_timeout{8000};
    int patch_size = 96;
    int search_radius = 120;  // how far a patch may have moved and still be followed
    SettleOptions settle;
};

struct ReplayResult {
    RunStatus status = RunStatus::error;  // finished when every step in range ran
    std::string message;
    int steps_replayed = 0;
    int retargeted = 0;  // actions moved to where their patch is now
    std::filesystem::path session_dir;
    std::filesystem::path mismatch_image;  // set when verification failed
};

// Never throws for bad input: an unreadable session or a mismatch ends with status error.
ReplayResult replay(const ReplayOptions& options, vision::ScreenSource& screen,
                    actuators::Actuator& actuator, RunControl& control, AgentObserver& observer);

}  // namespace deskpilot::agent
