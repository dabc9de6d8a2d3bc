// deskpilot-demo, what `make demo` runs. On a private X server (never your own display) it
// starts the sandbox app. With --model-dir (what `make demo` gives it) it runs the agent live:
// the native CPU engine on a sandbox task (demo/live_demo.h). Without it, it replays the bundled
// recorded session of an agent filling in the sandbox's form, checking the screen before every
// action (`make demo-replay`). Either way it writes the HTML report.
//   deskpilot-demo [--session DIR] [--out DIR]
//   deskpilot-demo --model-dir DIR [--task ID] [--seed N] [--threads N] [--max-steps N] [--out DIR]
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>

#include "actuators/x11_actuator.h"
#include "agent/private_display.h"
#include "agent/replay.h"
#include "agent/report.h"
#include "agent/sandbox_process.h"
#include "demo/live_demo.h"
#include "vision/image_io.h"
#include "vision/x11_screen_source.h"

namespace {

// Prints the replay as it goes.
class DemoObserver : public deskpilot::agent::AgentObserver {
  public:
    void on_step_recorded(const deskpilot::agent::StepRecord& s) override {
        std::printf("  step %2d  %-44s", s.index, s.thought.substr(0, 44).c_str());
        for (const auto& a : s.actions) std::printf(" %s", a.value("type", "").c_str());
        std::printf("\n");
        std::fflush(stdout);
    }
    void on_warning(const std::string& w) override { std::printf("           (%s)\n", w.c_str()); }
};

}  // namespace

int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    using namespace deskpilot;
    fs::path session = fs::path(DESKPILOT_SOURCE_DIR) / "tests/data/sessions/form-task";
    fs::path out_dir = "demo-out";
    demo::LiveDemoOptions live{.tasks_file =
                                   fs::path(DESKPILOT_SOURCE_DIR) / "eval/tasks/sandbox.json"};
    bool live_only = false;  // an option only the live mode takes was given
    const char* usage =
        "usage: deskpilot-demo [--session DIR] [--out DIR]\n"
        "       deskpilot-demo --model-dir DIR [--task ID] [--seed N] [--threads N] "
        "[--max-steps N] [--out DIR]\n";
    if (argc % 2 == 0) {
        std::fprintf(stderr, "deskpilot demo: %s needs a value\n%s", argv[argc - 1], usage);
        return 2;
    }
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string opt = argv[i], value = argv[i + 1];
        try {
            if (opt == "--session") {
                session = value;
            } else if (opt == "--out") {
                out_dir = value;
            } else if (opt == "--model-dir") {
                live.model_dir = value;
            } else if (opt == "--task") {
                live.task_id = value;
                live_only = true;
            } else if (opt == "--seed") {
                live.seed = static_cast<unsigned>(std::stoul(value));
                live_only = true;
            } else if (opt == "--threads") {
                live.threads = std::stoi(value);
                live_only = true;
            } else if (opt == "--max-steps") {
                live.max_steps = std::stoi(value);
                live_only = true;
            } else {
                std::fprintf(stderr, "deskpilot demo: unknown option %s\n%s", opt.c_str(), usage);
                return 2;
            }
        } catch (const std::exception&) {
            std::fprintf(stderr, "deskpilot demo: %s '%s' is not a number\n%s", opt.c_str(),
                         value.c_str(), usage);
            return 2;
        }
    }
    if (live.threads < 0 || live.max_steps < 0) {
        std::fprintf(stderr, "deskpilot demo: --threads and --max-steps must not be negative\n");
        return 2;
    }
    if (!live.model_dir.empty()) {
        live.out_dir = out_dir;
        return demo::run_live_demo(live);
    }
    if (live_only) {
        std::fprintf(stderr,
                     "deskpilot demo: --task, --seed, --threads and --max-steps need "
                     "--model-dir\n%s",
                     usage);
        return 2;
    }
    try {
        fs::remove_all(out_dir / "replay");
        fs::create_directories(out_dir);
        std::printf("deskpilot demo: starting a private X server and the sandbox app...\n");
        agent::PrivateDisplay display({.screens = {{1280, 800}}});
        agent::SandboxProcess sandbox({.display = display.name(),
                                       .work_dir = out_dir / "sandbox",
                                       .geometry = vision::Rect{0, 0, 1280, 800}});
        vision::X11ScreenSource screen(display.name());
        actuators::X11Actuator hands(display.name());

        std::printf("deskpilot demo: replaying %s on %s, verifying the screen before each action\n",
                    session.c_str(), display.name().c_str());
        agent::RunControl control;
        DemoObserver observer;
        agent::ReplayOptions options{
            .source = session, .session_dir = out_dir / "replay", .speed = 4.0};
        const agent::ReplayResult result = agent::replay(options, screen, hands, control, observer);

        vision::write_image(screen.capture(), out_dir / "screenshot.png");
        const fs::path report = out_dir / "report.html";
        agent::write_report(agent::load_session(result.session_dir), report);
        std::printf("deskpilot demo: %s, %d steps replayed (%d re-targeted)%s%s\n",
                    std::string(agent::to_string(result.status)).c_str(), result.steps_replayed,
                    result.retargeted, result.message.empty() ? "" : ": ", result.message.c_str());
        std::printf("  report:     %s\n", fs::absolute(report).c_str());
        std::printf("  final screen: %s\n", fs::absolute(out_dir / "screenshot.png").c_str());
        std::printf("  session:    %s\n", fs::absolute(result.session_dir).c_str());
        return result.status == agent::RunStatus::finished ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "deskpilot demo: %s\n", e.what());
        return 1;
    }
}
