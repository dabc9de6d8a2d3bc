// A passive key grab on the root window of an X display, held by its own connection for as
// long as the object lives: "another program already has Ctrl+Alt+Esc". Kept out of the Qt
// test files so that Xlib's macros (None, KeyPress, Bool...) never meet Qt headers.
#pragma once

#include <string>

namespace deskpilot::testing {

class XKeyGrab {
  public:
    // Grabs `key` (an X keysym name) with Ctrl+Alt; throws std::runtime_error when it cannot.
    XKeyGrab(const std::string& display, const std::string& key);
    ~XKeyGrab();
    XKeyGrab(const XKeyGrab&) = delete;
    XKeyGrab& operator=(const XKeyGrab&) = delete;

  private:
    void* display_ = nullptr;  // Display*
    int keycode_ = 0;
};

}  // namespace deskpilot::testing
