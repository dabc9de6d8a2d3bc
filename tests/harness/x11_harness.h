// The Xvfb test harness: a private X server per test (never the developer's own $DISPLAY)
// and the sandbox app on it. Everything is torn down by destructors, and the child processes
// die with the test process even when it crashes (PR_SET_PDEATHSIG in agent::ChildProcess).
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "agent/private_display.h"
#include "agent/sandbox_process.h"

namespace deskpilot::testing {

// Paths of the binaries under test, from the build tree.
std::filesystem::path bin_dir();
std::filesystem::path sandbox_executable();
std::filesystem::path deskpilot_executable();
std::filesystem::path test_data_dir();

// Starts Xvfb with one screen of the given size.
std::unique_ptr<agent::PrivateDisplay> start_display(int width = 1280, int height = 800);
// Starts Xvfb with several screens side by side (+xinerama), as several monitors.
std::unique_ptr<agent::PrivateDisplay> start_multi_monitor_display(
    const std::vector<vision::Size>& monitors);

// Starts the sandbox from the build tree on `display` and waits for "ready".
std::unique_ptr<agent::SandboxProcess> start_sandbox(const agent::PrivateDisplay& display,
                                                     agent::SandboxOptions options = {});

// Asks the top-level window whose title is `title` to close, as a window manager would
// (a WM_DELETE_WINDOW client message). Returns false when no such window exists.
bool request_window_close(const std::string& display, const std::string& title);

// True when `pid` no longer runs (gone, or a zombie that nobody has reaped yet).
bool process_gone(pid_t pid);

}  // namespace deskpilot::testing
