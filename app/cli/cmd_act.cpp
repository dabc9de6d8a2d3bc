// deskpilot act [--display :N] [--dry-run] ACTION_JSON...: performs actions given in the
// action JSON of DESIGN.md. Every action is parsed and checked before the first is performed,
// so a typo in the third action does not leave the first two done.
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "actuators/dry_run_actuator.h"
#include "actuators/x11_actuator.h"
#include "agent/action_executor.h"
#include "cli/command_registry.h"
#include "vision/x11_screen_source.h"

namespace deskpilot::cli {
namespace {

class ActCommand : public Command {
  public:
    std::string name() const override { return "act"; }

    void configure(CLI::App& app) override {
        app.add_option("actions", actions_,
                       "Actions as JSON, e.g. '{\"type\":\"click\",\"x\":100,\"y\":200}'")
            ->required();
        app.add_option("--display", display_, "X display, e.g. :1 (default: $DISPLAY)");
        app.add_flag(
            "--dry-run", dry_run_,
            "Print what would be done and send nothing (points are checked against the monitors of "
            "--display when it is given)");
        app.add_option("--scroll-clicks", scroll_clicks_, "Wheel clicks per scroll action")
            ->check(CLI::Range(1, 100));
        app.add_option("--wait-ms", wait_ms_, "Duration of a wait action in milliseconds")
            ->check(CLI::Range(0, 600000));
    }

    int run() override {
        std::vector<planner::Action> actions;
        for (std::size_t i = 0; i < actions_.size(); ++i) {
            try {
                actions.push_back(planner::action_from_json_text(actions_[i]));
            } catch (const planner::ActionError& e) {
                throw CommandError(
                    "action " + std::to_string(i + 1) + ": " + e.what() + "; nothing was performed",
                    kExitUsage);
            }
        }
        // Under Wayland we reach only XWayland: native Wayland windows are invisible to X11.
        if (const char* wl = std::getenv("WAYLAND_DISPLAY"); wl && *wl)
            std::fprintf(
                stderr,
                "deskpilot %s: Wayland session: only XWayland windows can be seen and driven\n",
                name().c_str());
        std::unique_ptr<actuators::Actuator> actuator;
        actuators::DryRunActuator* dry = nullptr;
        if (dry_run_) {
            std::vector<vision::Monitor> monitors;
            if (!display_.empty()) monitors = vision::X11ScreenSource(display_).monitors();
            auto d = std::make_unique<actuators::DryRunActuator>(monitors);
            dry = d.get();
            actuator = std::move(d);
        } else {
            actuator = std::make_unique<actuators::X11Actuator>(display_);
        }
        agent::ActionExecutor executor(*actuator,
                                       {.scroll_clicks = scroll_clicks_,
                                        .wait_duration = std::chrono::milliseconds(wait_ms_)});
        try {
            executor.validate(actions);
        } catch (const planner::ActionError& e) {
            throw CommandError(std::string(e.what()) + "; nothing was performed", kExitUsage);
        }
        for (std::size_t i = 0; i < actions.size(); ++i) {
            const auto outcome = executor.execute(actions[i]);
            if (dry) continue;
            const char* note =
                outcome == agent::ActionOutcome::finished    ? " (finished: nothing to do)"
                : outcome == agent::ActionOutcome::call_user ? " (call_user: nothing to do)"
                                                             : "";
            std::printf("%s%s\n", actions_[i].c_str(), note);
        }
        if (dry)
            for (std::string line : dry->log()) {
                // One line per action even when typed text holds newlines or tabs.
                for (std::size_t at = 0; (at = line.find_first_of("\n\t", at)) != std::string::npos;
                     at += 2)
                    line.replace(at, 1, line[at] == '\n' ? "\\n" : "\\t");
                std::printf("dry-run: %s\n", line.c_str());
            }
        return kExitOk;
    }

  private:
    std::vector<std::string> actions_;
    std::string display_;
    bool dry_run_ = false;
    int scroll_clicks_ = 5;
    int wait_ms_ = 5000;
};

DESKPILOT_REGISTER_COMMAND(ActCommand);

}  // namespace
}  // namespace deskpilot::cli
