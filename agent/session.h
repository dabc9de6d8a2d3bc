// agent::Session: the record of one run, always written, crash-safe.
//
//   DIR/manifest.json          format version, task, model, screen, times, final status
//   DIR/steps.jsonl            one JSON object per step, appended and fsynced
//   DIR/screenshots/NNNNNN.png written and fsynced before the step line that names it
//
// A process killed with SIGKILL leaves a session that loads up to its last complete step; a
// torn last line is skipped with a warning.
#pragma once

#include <cstdio>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vision/frame.h"

namespace deskpilot::agent {

inline constexpr int kSessionFormatVersion = 1;

class SessionError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct Manifest {
    int format_version = kSessionFormatVersion;
    std::string task;
    std::string model;          // model name or directory
    std::string family;         // e.g. "ui-tars-1.5"
    std::string endpoint_host;  // host[:port] only: never a path, query or key
    vision::Size screen;
    nlohmann::json monitors = nlohmann::json::array();
    double scale = 1.0;
    std::string started_at;  // ISO 8601 UTC
    std::string ended_at;
    std::string status = "running";  // running | finished | call_user | max_steps | stopped | error
    std::string message;
    std::string replay_of;  // set when this session is a replay of another
};

nlohmann::json to_json(const Manifest& manifest);
Manifest manifest_from_json(const nlohmann::json& json);

// One step as recorded. `actions` are action JSON objects in screen pixels (planner/action.h).
struct StepRecord {
    int index = 0;
    std::string started_at;
    std::string screenshot;  // relative path, e.g. "screenshots/000001.png"
    std::string raw_response;
    std::string thought;
    std::string reflection;
    nlohmann::json actions = nlohmann::json::array();
    nlohmann::json approvals =
        nlohmann::json::array();  // per action: "auto", "approved", "edited", ...
    nlohmann::json results = nlohmann::json::array();  // per action: "ok" or an error message
    double capture_ms = 0, model_ms = 0, act_ms = 0, settle_ms = 0;
    int prompt_tokens = 0, completion_tokens = 0;
    // The second look at the step's click (agent/second_look.h), when the run asked one:
    // {"region": [x,y,w,h], "response": …, "first_point": [x,y], "point": [x,y] or "error": …}.
    nlohmann::json second_look;
};

nlohmann::json to_json(const StepRecord& step);
StepRecord step_from_json(const nlohmann::json& json);

// "2026-11-28T13:05:09.123Z"
std::string utc_timestamp();
// A folder name for a new session: "<yyyymmdd-hhmmss>-<slug of the task>".
std::string session_folder_name(const std::string& task);
// ~/.local/share/deskpilot/sessions (XDG_DATA_HOME respected).
std::filesystem::path default_sessions_root();

class SessionWriter {
  public:
    // Creates `dir` (which must not hold a session already) and writes the manifest.
    SessionWriter(std::filesystem::path dir, Manifest manifest);
    ~SessionWriter();
    SessionWriter(const SessionWriter&) = delete;
    SessionWriter& operator=(const SessionWriter&) = delete;

    const std::filesystem::path& dir() const { return dir_; }
    const Manifest& manifest() const { return manifest_; }

    // Writes the step's screenshot as PNG, durably; returns its path relative to dir().
    std::string write_screenshot(int step_index, const vision::Frame& frame);
    // Appends one line to steps.jsonl and fsyncs it.
    void append_step(const StepRecord& step);
    // Records the final status (rewrites the manifest atomically).
    void finish(const std::string& status, const std::string& message = {});

  private:
    void write_manifest();

    std::filesystem::path dir_;
    Manifest manifest_;
    int steps_fd_ = -1;
};

struct LoadedSession {
    std::filesystem::path dir;
    Manifest manifest;
    std::vector<StepRecord> steps;
    std::vector<std::string> warnings;  // e.g. a torn last line that was skipped
};

// Loads a session; throws SessionError naming the file for a missing or unreadable manifest
// or a corrupt line that is not the last one.
LoadedSession load_session(const std::filesystem::path& dir);

}  // namespace deskpilot::agent
