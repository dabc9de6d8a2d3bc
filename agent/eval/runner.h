// eval runner: the grounding and task suites on seeded sandboxes, J at a time, each job on its
// own private Xvfb display with its own sandbox and model connection. Results are one JSON
// document (every item plus summaries) and a Markdown table made from it.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/eval/task_set.h"
#include "agent/sandbox_process.h"
#include "agent/settle.h"
#include "model/vlm.h"
#include "vision/frame.h"

namespace deskpilot::agent::eval {

struct EvalOptions {
    std::string family = "ui-tars-1.5";
    std::string model_name;       // recorded in the results and sessions
    std::vector<unsigned> seeds;  // grounding: the screens
    int jobs = 1;
    int repeat = 1;
    std::filesystem::path out_dir;  // screenshots, sandbox logs and agent sessions are kept here
    vision::Size screen{1280, 800};
    // Where the sandbox window's top-left corner sits, in screen pixels. {0, 0} (the default)
    // fills the screen, as the training screens do; another offset keeps the window's size and
    // moves it, so part of it leaves the screen and a strip of empty desktop shows. A model that
    // reads the screen follows the move; one that recalls where widgets usually sit does not.
    // Grounding asks only the targets wholly on the screen (the others are listed per seed).
    vision::Point window_offset{0, 0};
    std::filesystem::path sandbox;  // empty: deskpilot-sandbox beside the running binary
    SettleOptions settle{.quiet = std::chrono::milliseconds(150),
                         .max = std::chrono::milliseconds(3000)};
    model::GenerateOptions generate;
    std::int64_t max_pixels = 0;  // the model backend's pixel cap per screenshot (see AgentConfig)
    // Clicks get a second look (agent/second_look.h): grounding scores the point it gives, and
    // keeps the first look's point and the second answer beside it; tasks run the agent so.
    bool second_look = false;
    // One model per job (a connection is not shared between threads). Required.
    std::function<std::unique_ptr<model::Vlm>(int job)> make_model;
    // Called on a job's thread before each item is asked of the model: the job, its sandbox, and
    // {"suite", "repeat", "seed", "task" or "widget"}. Lets a scripted model see the live layout.
    std::function<void(int job, const SandboxProcess& sandbox, const nlohmann::json& item)> on_item;
    std::function<void(const std::string& line)> progress;  // one line per finished item
};

// Why a window offset cannot be evaluated on `screen` ("leaves none of the WxH sandbox window on
// the screen"), or "" when it can. The CLI asks before any model loads; run_* check it again.
std::string window_offset_problem(vision::Point offset, vision::Size screen);

// Throws EvalError for bad options, or when a job's display cannot start. A failing model call
// or sandbox is recorded in its item (with "error") and the run goes on.
nlohmann::json run_grounding(const EvalOptions& options);
nlohmann::json run_tasks(const EvalOptions& options, const std::vector<EvalTask>& tasks);

// Summaries recomputed from "items" (run_* already fill them in).
nlohmann::json summarize_grounding(const nlohmann::json& items);
nlohmann::json summarize_tasks(const nlohmann::json& items);

// A Markdown report: the overall line and one table (per role, or per task).
std::string results_markdown(const nlohmann::json& results);

double median(std::vector<double> values);  // 0 for none

}  // namespace deskpilot::agent::eval
