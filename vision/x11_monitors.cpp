#include "vision/x11_monitors.h"

#include <X11/Xlib.h>
#include <X11/extensions/Xinerama.h>
#include <X11/extensions/Xrandr.h>

#include <string>

namespace deskpilot::vision {

namespace {

std::vector<Monitor> xinerama_heads(Display* display) {
    std::vector<Monitor> out;
    int event_base = 0, error_base = 0;
    if (!XineramaQueryExtension(display, &event_base, &error_base) || !XineramaIsActive(display))
        return out;
    int count = 0;
    XineramaScreenInfo* heads = XineramaQueryScreens(display, &count);
    for (int i = 0; i < count; ++i)
        out.push_back({i,
                       "xinerama-" + std::to_string(heads[i].screen_number),
                       {heads[i].x_org, heads[i].y_org, heads[i].width, heads[i].height},
                       i == 0});
    if (heads) XFree(heads);
    return out;
}

std::vector<Monitor> randr_monitors(Display* display) {
    std::vector<Monitor> out;
    int event_base = 0, error_base = 0, major = 0, minor = 0;
    if (!XRRQueryExtension(display, &event_base, &error_base) ||
        !XRRQueryVersion(display, &major, &minor))
        return out;
    if (major < 1 || (major == 1 && minor < 5)) return out;
    int count = 0;
    XRRMonitorInfo* monitors = XRRGetMonitors(display, DefaultRootWindow(display), True, &count);
    for (int i = 0; i < count; ++i) {
        char* name = monitors[i].name ? XGetAtomName(display, monitors[i].name) : nullptr;
        out.push_back({i,
                       name ? name : "monitor-" + std::to_string(i),
                       {monitors[i].x, monitors[i].y, monitors[i].width, monitors[i].height},
                       monitors[i].primary != 0});
        if (name) XFree(name);
    }
    if (monitors) XRRFreeMonitors(monitors);
    return out;
}

}  // namespace

std::vector<Monitor> query_x11_monitors(_XDisplay* display) {
    auto heads = xinerama_heads(display);
    auto monitors = randr_monitors(display);
    // Xinerama over several X screens is invisible to RandR, which lists only the first screen.
    std::vector<Monitor> result =
        heads.size() > monitors.size() ? std::move(heads) : std::move(monitors);
    if (result.empty()) {
        Window root = DefaultRootWindow(display), r;
        int x, y;
        unsigned w = 0, h = 0, border, depth;
        XGetGeometry(display, root, &r, &x, &y, &w, &h, &border, &depth);
        result.push_back({0, "root", {0, 0, static_cast<int>(w), static_cast<int>(h)}, true});
    }
    // Exactly one primary: RandR may mark none.
    bool any_primary = false;
    for (const auto& m : result) any_primary = any_primary || m.primary;
    if (!any_primary) result.front().primary = true;
    return result;
}

}  // namespace deskpilot::vision
