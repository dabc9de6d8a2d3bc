// deskpilot-demo --model-dir DIR: the live demo (issue 12). On a private Xvfb it starts the
// sandbox on a task's seed and runs the agent with the native CPU engine on that task (family
// deskpilot-nano), printing the model's thoughts as they stream and each action; then it reads
// the sandbox's event log to tell whether the task was done, and writes the HTML report.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace deskpilot::demo {

struct LiveDemoOptions {
    std::filesystem::path model_dir;
    std::filesystem::path out_dir = "demo-out";
    std::filesystem::path tasks_file;  // eval/tasks/sandbox.json
    std::string task_id = "form-save";
    std::optional<unsigned> seed;  // default: the task's own
    int threads = 0;               // native engine threads; 0: one per hardware thread
    int max_steps = 0;             // 0: the task's own
};

// Exit status: 0 the task was done (the sandbox logged its success events), 3 the agent ran but
// the task is not done, 1 an error (a missing or broken model folder, no X server), 2 usage (an
// unknown task). The report is written whenever the agent started.
int run_live_demo(const LiveDemoOptions& options);

constexpr int kExitTaskNotDone = 3;

}  // namespace deskpilot::demo
