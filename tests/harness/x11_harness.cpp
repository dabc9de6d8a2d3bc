#include "x11_harness.h"

#include <signal.h>

#include <X11/Xatom.h>
#include <X11/Xlib.h>
#include <X11/Xutil.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

namespace deskpilot::testing {

std::filesystem::path bin_dir() {
    return DESKPILOT_BIN_DIR;
}
std::filesystem::path sandbox_executable() {
    return bin_dir() / "deskpilot-sandbox";
}
std::filesystem::path deskpilot_executable() {
    return bin_dir() / "deskpilot";
}
std::filesystem::path test_data_dir() {
    return DESKPILOT_TEST_DATA_DIR;
}

std::unique_ptr<agent::PrivateDisplay> start_display(int width, int height) {
    return std::make_unique<agent::PrivateDisplay>(
        agent::XvfbOptions{.screens = {{width, height}}});
}

std::unique_ptr<agent::PrivateDisplay> start_multi_monitor_display(
    const std::vector<vision::Size>& monitors) {
    return std::make_unique<agent::PrivateDisplay>(
        agent::XvfbOptions{.screens = monitors, .xinerama = true});
}

std::unique_ptr<agent::SandboxProcess> start_sandbox(const agent::PrivateDisplay& display,
                                                     agent::SandboxOptions options) {
    options.display = display.name();
    if (options.executable.empty()) options.executable = sandbox_executable();
    return std::make_unique<agent::SandboxProcess>(std::move(options));
}

namespace {

std::optional<Window> find_window(Display* dpy, Window window, const std::string& title) {
    char* name = nullptr;
    if (XFetchName(dpy, window, &name) && name) {
        const bool match = title == name;
        XFree(name);
        if (match) return window;
    }
    Window root, parent, *children = nullptr;
    unsigned count = 0;
    if (!XQueryTree(dpy, window, &root, &parent, &children, &count)) return std::nullopt;
    std::optional<Window> found;
    for (unsigned i = 0; i < count && !found; ++i) found = find_window(dpy, children[i], title);
    if (children) XFree(children);
    return found;
}

}  // namespace

bool request_window_close(const std::string& display, const std::string& title) {
    Display* dpy = XOpenDisplay(display.c_str());
    if (!dpy) return false;
    const auto window = find_window(dpy, DefaultRootWindow(dpy), title);
    if (window) {
        XEvent event{};
        event.xclient.type = ClientMessage;
        event.xclient.window = *window;
        event.xclient.message_type = XInternAtom(dpy, "WM_PROTOCOLS", False);
        event.xclient.format = 32;
        event.xclient.data.l[0] = static_cast<long>(XInternAtom(dpy, "WM_DELETE_WINDOW", False));
        event.xclient.data.l[1] = CurrentTime;
        XSendEvent(dpy, *window, False, NoEventMask, &event);
        XSync(dpy, False);
    }
    XCloseDisplay(dpy);
    return window.has_value();
}

bool process_gone(pid_t pid) {
    if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return true;
    const auto close = line.rfind(')');
    return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

}  // namespace deskpilot::testing
