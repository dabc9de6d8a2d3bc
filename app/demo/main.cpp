// deskpilot-demo, what `make demo` runs. On a private X server (never your own display) it
// starts the sandbox app, replays the bundled recorded session of an agent filling in the
// sandbox's form — checking the screen before every action — and writes the HTML report.
//   deskpilot-demo [--session DIR] [--out DIR]
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>

#include "actuators/x11_actuator.h"
#include "agent/private_display.h"
#include "agent/replay.h"
#include "agent/report.h"
#include "agent/sandbox_process.h"
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
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--session") == 0)
            session = argv[i + 1];
        else if (std::strcmp(argv[i], "--out") == 0)
            out_dir = argv[i + 1];
        else {
            std::fprintf(stderr, "usage: deskpilot-demo [--session DIR] [--out DIR]\n");
            return 2;
        }
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
