// A private Xorg server with the "dummy" video driver, one X screen per monitor joined by
// Xinerama and laid out side by side. Xvfb cannot do this: its +xinerama puts every screen at
// 0,0, so monitors overlap; nor can it change its screen size. Used by the multi-monitor and
// screen-resize tests, which skip when Xorg or the dummy driver is not installed.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/child_process.h"
#include "vision/frame.h"

namespace deskpilot::testing {

class XorgDummyDisplay {
  public:
    // Throws agent::ProcessError with the tail of Xorg's log when the server does not start.
    // `extra_modes` are further sizes the first screen can be switched to with xrandr -s.
    explicit XorgDummyDisplay(const std::vector<vision::Size>& monitors,
                              const std::vector<vision::Size>& extra_modes = {});
    ~XorgDummyDisplay();
    const std::string& name() const { return name_; }

    // Why these tests cannot run here (Xorg or its dummy driver is not installed), or nullopt.
    static std::optional<std::string> unavailable();

  private:
    std::filesystem::path dir_;
    std::unique_ptr<agent::ChildProcess> process_;
    std::string name_;
};

}  // namespace deskpilot::testing
