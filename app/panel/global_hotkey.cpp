#include "panel/global_hotkey.h"

#include <X11/Xlib.h>
#include <X11/keysym.h>
#include <poll.h>
#include <unistd.h>

#include <cctype>
#include <stdexcept>
#include <vector>

namespace deskpilot::panel {

namespace {
// The grab must also match with Caps Lock and Num Lock on, which X counts as modifiers.
constexpr unsigned kLockVariants[] = {0, LockMask, Mod2Mask, LockMask | Mod2Mask};

int grab_error = 0;
int record_error(Display*, XErrorEvent* e) {
    grab_error = e->error_code;
    return 0;
}
}  // namespace

unsigned GlobalHotkey::ctrl_alt() {
    return ControlMask | Mod1Mask;
}

GlobalHotkey::Spec GlobalHotkey::parse(const std::string& spec) {
    Spec result;
    std::vector<std::string> parts;
    std::size_t start = 0;
    for (std::size_t plus; (plus = spec.find('+', start)) != std::string::npos; start = plus + 1)
        parts.push_back(spec.substr(start, plus - start));
    parts.push_back(spec.substr(start));
    result.key = parts.back();
    if (result.key.empty())
        throw std::invalid_argument("hotkey '" + spec + "' names no key after its modifiers");
    if (XStringToKeysym(result.key.c_str()) == NoSymbol)
        throw std::invalid_argument("hotkey '" + spec + "': '" + result.key +
                                    "' is not an X key name (e.g. Escape, F12, Pause)");
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        std::string m = parts[i];
        for (auto& ch : m) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (m == "ctrl" || m == "control")
            result.modifiers |= ControlMask;
        else if (m == "alt")
            result.modifiers |= Mod1Mask;
        else if (m == "shift")
            result.modifiers |= ShiftMask;
        else if (m == "super" || m == "meta" || m == "win")
            result.modifiers |= Mod4Mask;
        else
            throw std::invalid_argument("hotkey '" + spec + "': unknown modifier '" + parts[i] +
                                        "' (use ctrl, alt, shift, super)");
    }
    return result;
}

GlobalHotkey::GlobalHotkey(const std::string& display, const std::string& spec,
                           std::function<void()> on_press)
    : GlobalHotkey(display, parse(spec).key, parse(spec).modifiers, std::move(on_press)) {}

GlobalHotkey::GlobalHotkey(const std::string& display, const std::string& key, unsigned modifiers,
                           std::function<void()> on_press)
    : modifiers_(modifiers), on_press_(std::move(on_press)) {
    Display* d = XOpenDisplay(display.empty() ? nullptr : display.c_str());
    if (!d)
        throw std::runtime_error("cannot open X display '" + display +
                                 "' for the emergency hotkey");
    const KeySym sym = XStringToKeysym(key.c_str());
    keycode_ = sym == NoSymbol ? 0 : XKeysymToKeycode(d, sym);
    if (keycode_ == 0) {
        XCloseDisplay(d);
        throw std::runtime_error("unknown key '" + key + "' for the emergency hotkey");
    }
    root_ = DefaultRootWindow(d);
    XSync(d, False);
    grab_error = 0;
    auto* previous = XSetErrorHandler(record_error);
    for (unsigned lock : kLockVariants)
        XGrabKey(d, keycode_, modifiers_ | lock, root_, True, GrabModeAsync, GrabModeAsync);
    XSync(d, False);
    XSetErrorHandler(previous);
    if (grab_error) {
        XCloseDisplay(d);
        throw std::runtime_error(
            "the emergency hotkey is already grabbed by another program on display '" + display +
            "'");
    }
    XSelectInput(d, root_, KeyPressMask);
    display_ = d;
    if (pipe(wake_) != 0) {
        XCloseDisplay(d);
        throw std::runtime_error("cannot create a pipe for the emergency hotkey");
    }
    thread_ = std::thread([this] { loop(); });
}

GlobalHotkey::~GlobalHotkey() {
    if (wake_[1] >= 0) {
        const char c = 'q';
        (void)!write(wake_[1], &c, 1);
    }
    if (thread_.joinable()) thread_.join();
    auto* d = static_cast<Display*>(display_);
    if (d) {
        for (unsigned lock : kLockVariants) XUngrabKey(d, keycode_, modifiers_ | lock, root_);
        XCloseDisplay(d);
    }
    for (int fd : wake_)
        if (fd >= 0) close(fd);
}

void GlobalHotkey::loop() {
    auto* d = static_cast<Display*>(display_);
    pollfd fds[2] = {{ConnectionNumber(d), POLLIN, 0}, {wake_[0], POLLIN, 0}};
    for (;;) {
        while (XPending(d)) {
            XEvent e;
            XNextEvent(d, &e);
            if (e.type == KeyPress && static_cast<int>(e.xkey.keycode) == keycode_) on_press_();
        }
        if (poll(fds, 2, -1) < 0) continue;
        if (fds[1].revents) return;
    }
}

}  // namespace deskpilot::panel
