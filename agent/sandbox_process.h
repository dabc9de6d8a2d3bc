// agent::SandboxProcess: runs deskpilot-sandbox, the practice app, on a given display and
// reads what it reports: its --state events (one JSON object a line) and its --layout-json.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/child_process.h"
#include "vision/frame.h"

namespace deskpilot::agent {

struct SandboxOptions {
    std::filesystem::path executable;  // empty: deskpilot-sandbox beside the running binary
    std::string display;               // ":N"
    std::filesystem::path work_dir;    // state.jsonl and layout.json go here; empty: a temp dir
    std::optional<unsigned> seed;
    std::optional<vision::Rect> geometry;  // screen pixels
    std::optional<double> scale;           // HiDPI scale factor
    std::vector<std::string> extra_args;
    std::chrono::milliseconds ready_timeout{20000};
};

class SandboxProcess {
  public:
    // Starts the sandbox and waits for its {"event":"ready"} line. Throws ProcessError if it
    // exits or does not become ready in time (with the tail of its stderr).
    explicit SandboxProcess(SandboxOptions options);
    ~SandboxProcess();
    SandboxProcess(const SandboxProcess&) = delete;
    SandboxProcess& operator=(const SandboxProcess&) = delete;

    const std::filesystem::path& state_path() const { return state_path_; }
    const std::filesystem::path& layout_path() const { return layout_path_; }
    ChildProcess& process() { return *process_; }

    // All complete state lines so far, parsed.
    std::vector<nlohmann::json> events() const;
    // Waits until an event satisfies `match`; returns it, or nullopt on timeout.
    std::optional<nlohmann::json> wait_for_event(
        const std::function<bool(const nlohmann::json&)>& match,
        std::chrono::milliseconds timeout) const;
    // The current layout JSON (the sandbox rewrites it whenever its layout changes).
    nlohmann::json layout() const;
    // Its "widgets" array, by value: safe to iterate directly (`for (auto& w :
    // sandbox.widgets())`), unlike `layout().at("widgets")`, which refers into a temporary.
    nlohmann::json widgets() const;
    // The rectangle of the widget called `name` in the layout, in screen pixels.
    std::optional<vision::Rect> widget_rect(const std::string& name) const;

    void terminate();

  private:
    SandboxOptions options_;
    std::filesystem::path state_path_;
    std::filesystem::path layout_path_;
    std::filesystem::path stderr_path_;
    bool owns_work_dir_ = false;
    std::unique_ptr<ChildProcess> process_;
};

// Where deskpilot-sandbox is: beside the running executable, else on PATH.
std::filesystem::path default_sandbox_path();

}  // namespace deskpilot::agent
