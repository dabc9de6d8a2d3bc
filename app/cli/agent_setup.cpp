#include "cli/agent_setup.h"

#include <chrono>

#include "actuators/dry_run_actuator.h"
#include "actuators/x11_actuator.h"
#include "cli/console.h"

namespace deskpilot::cli {

Desktop open_desktop(const std::string& display, bool dry_run) {
    Desktop desktop;
    desktop.screen = std::make_unique<vision::X11ScreenSource>(display);
    if (dry_run)
        desktop.actuator = std::make_unique<actuators::DryRunActuator>(desktop.screen->monitors());
    else
        desktop.actuator = std::make_unique<actuators::X11Actuator>(desktop.screen->display_name());
    return desktop;
}

StopOnSignal::StopOnSignal(agent::RunControl& control) {
    std::atomic<bool>& signalled = install_stop_signals();
    watcher_ = std::thread([this, &control, &signalled] {
        while (!done_.load()) {
            if (signalled.exchange(false)) {
                std::fprintf(stderr, "\ndeskpilot: stopping...\n");
                control.stop();
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    });
}

StopOnSignal::~StopOnSignal() {
    done_.store(true);
    watcher_.join();
}

}  // namespace deskpilot::cli
