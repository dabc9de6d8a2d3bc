#include "x_key_grab.h"

#include <X11/Xlib.h>

#include <stdexcept>

namespace deskpilot::testing {

XKeyGrab::XKeyGrab(const std::string& display, const std::string& key) {
    Display* d = XOpenDisplay(display.c_str());
    if (!d) throw std::runtime_error("cannot open X display " + display);
    keycode_ = XKeysymToKeycode(d, XStringToKeysym(key.c_str()));
    if (keycode_ == 0) {
        XCloseDisplay(d);
        throw std::runtime_error("no keycode for " + key);
    }
    XGrabKey(d, keycode_, ControlMask | Mod1Mask, DefaultRootWindow(d), True, GrabModeAsync,
             GrabModeAsync);
    XSync(d, False);  // the grab is in place before anyone else tries
    display_ = d;
}

XKeyGrab::~XKeyGrab() {
    auto* d = static_cast<Display*>(display_);
    XUngrabKey(d, keycode_, ControlMask | Mod1Mask, DefaultRootWindow(d));
    XCloseDisplay(d);
}

}  // namespace deskpilot::testing
