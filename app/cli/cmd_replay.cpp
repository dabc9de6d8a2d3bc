// deskpilot replay DIR [--speed F] [--verify strict|loose|off] [--from N] [--to M] [--dry-run]
// [--display :N]: runs a recorded session again, checking the screen before every action.
#include <cstdio>
#include <thread>

#include "agent/replay.h"
#include "cli/agent_setup.h"
#include "cli/command_registry.h"
#include "cli/console.h"

namespace deskpilot::cli {
namespace {

class ReplayCommand : public Command {
  public:
    std::string name() const override { return "replay"; }

    void configure(CLI::App& app) override {
        app.add_option("session", source_, "Recorded session folder")->required();
        app.add_option("--speed", speed_, "Pace relative to the recording (2 = twice as fast)")
            ->check(CLI::Range(0.1, 100.0));
        app.add_option("--verify", verify_, "Screen check before each action: strict, loose or off")
            ->check(CLI::IsMember({"strict", "loose", "off"}));
        app.add_option("--from", from_, "First step to replay")->check(CLI::PositiveNumber);
        app.add_option("--to", to_, "Last step to replay")->check(CLI::PositiveNumber);
        app.add_option("--display", display_, "X display, e.g. :1 (default: $DISPLAY)");
        app.add_option(
            "--session", output_,
            "Folder to record the replay into (default: a new one under ~/.local/share)");
        app.add_option("--timeout-ms", timeout_ms_,
                       "How long to wait for the screen to match before giving up")
            ->check(CLI::Range(0, 600000));
        app.add_flag("--dry-run", dry_run_, "Check the screen but send no input");
    }

    int run() override {
        if (from_ > to_)
            throw CommandError(
                "--from " + std::to_string(from_) + " is after --to " + std::to_string(to_),
                kExitUsage);
        const std::filesystem::path source(source_);
        Desktop desktop = open_desktop(display_, dry_run_);
        agent::ReplayOptions options;
        options.source = source;
        options.session_dir =
            output_.empty() ? agent::default_sessions_root() /
                                  agent::session_folder_name("replay " + source.filename().string())
                            : std::filesystem::path(output_);
        options.speed = speed_;
        options.verify = *agent::verify_mode_from_string(verify_);
        options.from = from_;
        options.to = to_;
        options.verify_timeout = std::chrono::milliseconds(timeout_ms_);

        agent::RunControl control;
        ConsoleObserver console;
        agent::ReplayResult result;
        {
            StopOnSignal stop_on_signal(control);
            std::thread worker([&] {
                result =
                    agent::replay(options, *desktop.screen, *desktop.actuator, control, console);
            });
            answer_from_terminal(console, control);
            worker.join();
        }
        std::printf("  replayed %d step(s), %d action(s) re-targeted\n  session: %s\n",
                    result.steps_replayed, result.retargeted, result.session_dir.c_str());
        if (!result.mismatch_image.empty())
            std::printf("  mismatch: %s\n", result.mismatch_image.c_str());
        return agent::exit_code(result.status);
    }

  private:
    std::string source_, display_, output_, verify_ = "loose";
    double speed_ = 1.0;
    int from_ = 1, to_ = INT_MAX, timeout_ms_ = 8000;
    bool dry_run_ = false;
};

DESKPILOT_REGISTER_COMMAND(ReplayCommand);

}  // namespace
}  // namespace deskpilot::cli
