#include "demo/live_demo.h"

#include <chrono>
#include <cstdio>
#include <exception>
#include <thread>

#include "actuators/key_names.h"
#include "actuators/x11_actuator.h"
#include "agent/agent_loop.h"
#include "agent/eval/task_set.h"
#include "agent/private_display.h"
#include "agent/report.h"
#include "agent/sandbox_process.h"
#include "agent/session.h"
#include "cli/agent_setup.h"
#include "cli/console.h"
#include "model/engine/native_vlm.h"
#include "vision/image_io.h"
#include "vision/x11_screen_source.h"

namespace deskpilot::demo {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// `deskpilot run`'s printer (streamed thoughts, actions, step timings). Nobody answers at a
// demo, so a call_user question ends the run instead of waiting for a reply.
class LiveObserver : public cli::ConsoleObserver {
  public:
    explicit LiveObserver(agent::RunControl& control) : control_(control) {}
    void on_call_user(int, const std::string& question) override {
        std::printf("\n  the model asks: %s (nobody answers at a demo: stopping)\n",
                    question.c_str());
        control_.stop();
    }

  private:
    agent::RunControl& control_;
};

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

int run_live_demo(const LiveDemoOptions& o) {
    const auto start = Clock::now();
    std::vector<agent::eval::EvalTask> tasks;
    try {
        tasks = agent::eval::load_tasks(o.tasks_file);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "deskpilot demo: %s\n", e.what());
        return 1;
    }
    const agent::eval::EvalTask* found = nullptr;
    std::string ids;
    for (const auto& t : tasks) {
        if (t.id == o.task_id) found = &t;
        ids += (ids.empty() ? "" : ", ") + t.id;
    }
    if (!found) {
        std::fprintf(stderr, "deskpilot demo: unknown --task '%s' (tasks in %s: %s)\n",
                     o.task_id.c_str(), o.tasks_file.c_str(), ids.c_str());
        return 2;
    }
    agent::eval::EvalTask task = *found;
    if (o.seed) task.seed = *o.seed;
    if (o.max_steps > 0) task.max_steps = o.max_steps;

    // The model first: a missing or broken folder is one clear error before anything starts.
    std::unique_ptr<model::NativeVlm> vlm;
    try {
        vlm = std::make_unique<model::NativeVlm>(
            model::NativeVlmConfig{.model_dir = o.model_dir,
                                   .threads = o.threads,
                                   .key_names = actuators::key_name_list()});
    } catch (const std::exception& e) {
        std::fprintf(stderr, "deskpilot demo: cannot load the model: %s\n", e.what());
        return 1;
    }

    const fs::path session_dir = o.out_dir / "live-session";
    const fs::path report = o.out_dir / "report.html";
    try {
        fs::create_directories(o.out_dir);
        fs::remove_all(session_dir);
        fs::remove_all(o.out_dir / "sandbox");
        fs::remove(report);
        std::printf("deskpilot demo: %s\n", vlm->describe().c_str());
        std::printf("deskpilot demo: starting a private X server and the sandbox (seed %u)...\n",
                    task.seed);
        agent::PrivateDisplay display({.screens = {{1280, 800}}});
        agent::SandboxProcess sandbox({.display = display.name(),
                                       .work_dir = o.out_dir / "sandbox",
                                       .seed = task.seed,
                                       .geometry = vision::Rect{0, 0, 1280, 800}});
        vision::X11ScreenSource screen(display.name());
        actuators::X11Actuator hands(display.name());

        agent::AgentConfig config;
        config.task = agent::eval::render_task_text(task, sandbox.widgets());
        config.family = "deskpilot-nano";
        config.max_steps = task.max_steps;
        // deskpilot eval's settling: the sandbox repaints fast.
        config.settle = {.quiet = std::chrono::milliseconds(150),
                         .max = std::chrono::milliseconds(3000)};
        config.generate.max_tokens = 256;  // a nano answer is ~30 tokens; a confused one stops
        config.session_dir = session_dir;
        config.manifest.model = vlm->describe();
        std::printf("deskpilot demo: task '%s': %s (at most %d steps)\n", task.id.c_str(),
                    config.task.c_str(), task.max_steps);

        agent::RunControl control;
        LiveObserver observer(control);
        agent::Agent agent(config, screen, *vlm, hands, control, observer);
        agent::RunResult result;
        {
            cli::StopOnSignal stop_on_signal(control);
            result = agent.run();
        }

        // The last action's event may still be on its way to the log.
        std::string unmet = agent::eval::unmet_conditions(task, sandbox.events());
        for (int i = 0; i < 5 && !unmet.empty(); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            unmet = agent::eval::unmet_conditions(task, sandbox.events());
        }
        vision::write_image(screen.capture(), o.out_dir / "screenshot.png");
        agent::write_report(agent::load_session(result.session_dir), report);

        std::printf("deskpilot demo: the agent %s after %d step%s in %.1f s\n",
                    std::string(agent::to_string(result.status)).c_str(), result.steps,
                    result.steps == 1 ? "" : "s", seconds_since(start));
        if (unmet.empty())
            std::printf("deskpilot demo: TASK DONE: the sandbox logged every success event\n");
        else
            std::printf("deskpilot demo: TASK NOT DONE: the sandbox never logged %s\n",
                        unmet.c_str());
        std::printf("  report:       %s\n", fs::absolute(report).c_str());
        std::printf("  final screen: %s\n", fs::absolute(o.out_dir / "screenshot.png").c_str());
        std::printf("  session:      %s\n", fs::absolute(result.session_dir).c_str());
        std::printf("  sandbox log:  %s\n", fs::absolute(sandbox.state_path()).c_str());
        if (result.status == agent::RunStatus::error) return 1;
        return unmet.empty() ? 0 : kExitTaskNotDone;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "deskpilot demo: %s\n", e.what());
        // Whatever was recorded still gets its report.
        if (fs::exists(session_dir / "manifest.json")) try {
                agent::write_report(agent::load_session(session_dir), report);
                std::fprintf(stderr, "  report: %s\n", fs::absolute(report).c_str());
            } catch (const std::exception&) {
            }
        return 1;
    }
}

}  // namespace deskpilot::demo
