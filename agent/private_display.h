// agent::PrivateDisplay: a private Xvfb X server on a free display number, for tests, the
// demo and evaluation runs. It never touches the user's own $DISPLAY.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "agent/child_process.h"
#include "vision/frame.h"

namespace deskpilot::agent {

struct XvfbOptions {
    // One entry per X screen. With `xinerama` they form one root window side by side, which
    // is how several monitors look to X11 clients.
    std::vector<vision::Size> screens{{1280, 800}};
    bool xinerama = false;
    int depth = 24;
    std::chrono::milliseconds start_timeout{15000};
    std::string program = "Xvfb";
};

class PrivateDisplay {
  public:
    // Starts Xvfb with -displayfd and waits until it accepts connections. Throws ProcessError
    // with Xvfb's own complaint when it does not come up in time.
    explicit PrivateDisplay(const XvfbOptions& options = {});
    ~PrivateDisplay();
    PrivateDisplay(const PrivateDisplay&) = delete;
    PrivateDisplay& operator=(const PrivateDisplay&) = delete;

    // ":N", for DISPLAY and --display.
    const std::string& name() const { return name_; }
    int number() const { return number_; }
    pid_t pid() const { return process_->pid(); }
    bool running() { return process_->running(); }
    void stop();

  private:
    void close_log();

    std::unique_ptr<ChildProcess> process_;
    int log_fd_ = -1;  // Xvfb's stderr, an unlinked file in the temporary directory
    std::string name_;
    int number_ = -1;
};

}  // namespace deskpilot::agent
