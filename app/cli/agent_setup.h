// Shared by `run` and `replay`: the desktop (screen and hands) and the stop-signal watcher.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "actuators/actuator.h"
#include "agent/run_control.h"
#include "vision/x11_screen_source.h"

namespace deskpilot::cli {

struct Desktop {
    std::unique_ptr<vision::X11ScreenSource> screen;
    std::unique_ptr<actuators::Actuator> actuator;  // X11, or a dry run that only records
};

// Opens the display for capture and input; with dry_run nothing is ever sent.
Desktop open_desktop(const std::string& display, bool dry_run);

// Turns SIGINT/SIGTERM into control.stop() for as long as it lives.
class StopOnSignal {
  public:
    explicit StopOnSignal(agent::RunControl& control);
    ~StopOnSignal();

  private:
    std::atomic<bool> done_{false};
    std::thread watcher_;
};

}  // namespace deskpilot::cli
