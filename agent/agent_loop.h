// agent::Agent: the loop. capture → request → model (streamed) → parse → validate → policy →
// act → settle → record, one step after another, on the thread that calls run(), until the
// model says finished, a person stops it, or a limit is reached.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "actuators/actuator.h"
#include "agent/events.h"
#include "agent/policy.h"
#include "agent/run_control.h"
#include "agent/session.h"
#include "agent/settle.h"
#include "model/vlm.h"
#include "planner/family.h"
#include "vision/screen_source.h"

namespace deskpilot::agent {

struct AgentConfig {
    std::string task;
    std::string family = "ui-tars-1.5";
    double scale = 1.0;  // HiDPI device pixel ratio of the screen
    int max_steps = 50;
    int history = 5;  // screenshots kept in the model's context
    std::string language = "en";
    PolicyConfig policy;
    SettleOptions settle;
    std::chrono::milliseconds wait_timeout{5000};  // wait(): up to this long for a change
    int max_consecutive_errors = 3;                // parse / validation errors in a row
    int loop_limit = 3;
    // Let the model backend resize and encode the next screenshot while the screen's quiet
    // period is being confirmed (off only to measure what it saves).
    bool prepare_screenshots = true;
    // > 0: the model backend shows the model screenshots of at most this many pixels (the native
    // engine's --max-pixels); coordinates in resized-image pixels are mapped from that image.
    std::int64_t max_pixels = 0;
    // Ask each click again on the quarter of the screen around it at twice the scale, and click
    // where that answer points (agent/second_look.h; for models trained on such views).
    bool second_look = false;
    model::GenerateOptions generate;
    std::filesystem::path session_dir;  // where the session is recorded (must be new)
    Manifest manifest;                  // model, endpoint host, ... (task and screen are filled in)
};

struct RunResult {
    RunStatus status = RunStatus::error;
    std::string message;
    std::filesystem::path session_dir;
    int steps = 0;
};

class Agent {
  public:
    // Throws std::invalid_argument for an unknown family or a bad configuration.
    Agent(AgentConfig config, vision::ScreenSource& screen, model::Vlm& model,
          actuators::Actuator& actuator, RunControl& control, AgentObserver& observer);
    ~Agent();

    // Runs to the end on the calling thread. Never throws: failures end the run with
    // RunStatus::error and a message (the session records it).
    RunResult run();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace deskpilot::agent
