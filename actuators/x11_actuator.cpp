#include "actuators/x11_actuator.h"

#include <X11/XKBlib.h>
#include <X11/Xlib.h>
#include <X11/extensions/XTest.h>
#include <X11/keysym.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <thread>
#include <unordered_map>

#include "actuators/key_names.h"
#include "vision/screen_source.h"
#include "vision/x11_monitors.h"

namespace deskpilot::actuators {

namespace {

std::string str(Point p) {
    return "(" + std::to_string(p.x) + "," + std::to_string(p.y) + ")";
}

std::string hex(std::uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "U+%04X", v);
    return buf;
}

void sleep_for(std::chrono::milliseconds d) {
    if (d.count() > 0) std::this_thread::sleep_for(d);
}

// How to produce one keysym with the keymap as it is: a keycode, with or without Shift.
struct Stroke {
    KeyCode code = 0;
    bool shift = false;
};

}  // namespace

struct X11Actuator::Impl {
    std::string name;
    Display* dpy = nullptr;
    X11ActuatorOptions options;

    // Keycodes we remapped for the moment: keycode -> the keysyms it had before.
    struct Binding {
        KeySym keysym = 0;
        std::vector<::KeySym> original;
        int per_code = 0;
    };
    std::map<KeyCode, Binding> bindings;
    // Keys pressed through key(name, true) that sit on a temporary binding.
    std::map<KeyCode, int> held_bound;

    // ---- validation -------------------------------------------------------------------

    void check_point(Point p) {
        const auto monitors = vision::query_x11_monitors(dpy);
        if (vision::monitor_at(monitors, p)) return;
        std::string list;
        for (const auto& m : monitors)
            list += (list.empty() ? "" : ", ") + m.name + " " + std::to_string(m.rect.width) + "x" +
                    std::to_string(m.rect.height) + "+" + std::to_string(m.rect.x) + "+" +
                    std::to_string(m.rect.y);
        throw ActuatorError("point " + str(p) + " lies on no monitor of X display " + name +
                            " (monitors: " + list + "); nothing was sent");
    }

    static unsigned button_number(MouseButton b) {
        switch (b) {
            case MouseButton::left:
                return 1;
            case MouseButton::middle:
                return 2;
            case MouseButton::right:
                return 3;
        }
        throw ActuatorError("unknown mouse button " + std::to_string(static_cast<int>(b)));
    }

    static KeySym resolve_name(const std::string& key) {
        const auto ks = keysym_for_key_name(key);
        if (!ks) throw ActuatorError("unknown key name '" + key + "'; nothing was sent");
        return *ks;
    }

    // ---- keymap -----------------------------------------------------------------------

    struct Keymap {
        std::unordered_map<KeySym, Stroke> strokes;  // first (plain before shifted) wins
        std::unordered_map<KeySym, KeyCode> keys;  // any level of the current group, for key names
        std::vector<KeyCode> spare;                // keycodes with no symbols and no modifier
    };

    Keymap read_keymap() {
        Keymap map;
        XkbDescPtr xkb =
            XkbGetMap(dpy, XkbKeyTypesMask | XkbKeySymsMask | XkbModifierMapMask, XkbUseCoreKbd);
        if (!xkb)
            throw ActuatorError("X display " + name + ": cannot read the keyboard mapping (XKB)");
        XkbStateRec state{};
        XkbGetState(dpy, XkbUseCoreKbd, &state);
        for (int level = 0; level < XkbMaxShiftLevel; ++level) {
            for (int kc = xkb->min_key_code; kc <= xkb->max_key_code; ++kc) {
                const int groups = XkbKeyNumGroups(xkb, kc);
                if (groups == 0) {
                    if (level == 0 && xkb->map->modmap[kc] == 0 &&
                        bindings.count(static_cast<KeyCode>(kc)) == 0)
                        map.spare.push_back(static_cast<KeyCode>(kc));
                    continue;
                }
                const int group = state.group < groups ? state.group : 0;
                XkbKeyTypePtr type = XkbKeyKeyType(xkb, kc, group);
                if (level >= type->num_levels) continue;
                const auto sym = static_cast<KeySym>(XkbKeySymEntry(xkb, kc, level, group));
                if (sym != NoSymbol) map.keys.emplace(sym, static_cast<KeyCode>(kc));
                if (level > 1) continue;
                if (level == 1) {
                    // Only levels reached with Shift alone; others (AltGr, NumLock) go through a
                    // temporary binding, which needs no modifier at all.
                    bool shift_only = false;
                    for (int e = 0; e < type->map_count; ++e)
                        if (type->map[e].active && type->map[e].level == 1 &&
                            type->map[e].mods.mask == ShiftMask)
                            shift_only = true;
                    if (!shift_only) continue;
                }
                const auto ks = static_cast<KeySym>(XkbKeySymEntry(xkb, kc, level, group));
                if (ks == NoSymbol) continue;
                map.strokes.emplace(ks, Stroke{static_cast<KeyCode>(kc), level == 1});
            }
        }
        XkbFreeKeyboard(xkb, 0, True);
        return map;
    }

    // Maps `ks` onto a spare keycode (taken from `spare`) and returns it.
    KeyCode bind(KeySym ks, std::vector<KeyCode>& spare) {
        const KeyCode code = spare.back();
        spare.pop_back();
        Binding b;
        b.keysym = ks;
        ::KeySym* old = XGetKeyboardMapping(dpy, code, 1, &b.per_code);
        b.original.assign(old, old + b.per_code);
        XFree(old);
        ::KeySym syms[2] = {ks, ks};
        XChangeKeyboardMapping(dpy, code, 2, syms, 1);
        bindings.emplace(code, std::move(b));
        return code;
    }

    // Waits until clients have had time to read the temporary mapping, then restores it.
    void restore_bindings() {
        if (bindings.empty()) return;
        XSync(dpy, False);
        sleep_for(options.remap_settle);
        for (auto& [code, b] : bindings)
            XChangeKeyboardMapping(dpy, code, b.per_code, b.original.data(), 1);
        bindings.clear();
        XSync(dpy, False);
    }

    KeyCode shift_code(const Keymap& keymap) {
        const auto it = keymap.keys.find(XK_Shift_L);
        if (it == keymap.keys.end())
            throw ActuatorError("X display " + name + ": the keyboard has no Shift_L key");
        return it->second;
    }

    // The keycode of a key name's keysym. We read the keymap from the server each time rather
    // than ask Xlib's cached copy (XKeysymToKeycode), which lags behind layout switches and
    // our own temporary bindings.
    KeyCode keycode_for(KeySym ks, const std::string& key, Keymap& keymap, bool& bound) {
        for (const auto& [code, b] : bindings)
            if (b.keysym == ks) {
                bound = true;
                return code;
            }
        if (auto it = keymap.keys.find(ks); it != keymap.keys.end()) return it->second;
        if (keymap.spare.empty())
            throw ActuatorError("key '" + key +
                                "' is not on the keyboard and no spare keycode is free");
        bound = true;
        return bind(ks, keymap.spare);
    }

    void fake_key(KeyCode code, bool down) {
        XTestFakeKeyEvent(dpy, code, down ? True : False, CurrentTime);
    }

    void stroke(const Stroke& s, KeyCode shift) {
        if (s.shift) fake_key(shift, true);
        fake_key(s.code, true);
        fake_key(s.code, false);
        if (s.shift) fake_key(shift, false);
        XFlush(dpy);
        sleep_for(options.key_delay);
    }

    // ---- mouse ------------------------------------------------------------------------

    void motion(Point p) { XTestFakeMotionEvent(dpy, -1, p.x, p.y, CurrentTime); }
    void fake_button(unsigned b, bool down) {
        XTestFakeButtonEvent(dpy, b, down ? True : False, CurrentTime);
    }
};

X11Actuator::X11Actuator(const std::string& display_name, X11ActuatorOptions options)
    : impl_(std::make_unique<Impl>()) {
    const char* env = std::getenv("DISPLAY");
    impl_->name = !display_name.empty() ? display_name : (env && *env ? env : "");
    impl_->options = options;
    if (impl_->name.empty())
        throw vision::DisplayError("no X display: $DISPLAY is not set and no --display was given");
    impl_->dpy = XOpenDisplay(impl_->name.c_str());
    if (!impl_->dpy)
        throw vision::DisplayError("cannot open X display " + impl_->name +
                                   " (is an X server running there, and may we connect?)");
    int event_base, error_base, major, minor;
    if (!XTestQueryExtension(impl_->dpy, &event_base, &error_base, &major, &minor)) {
        XCloseDisplay(impl_->dpy);
        impl_->dpy = nullptr;
        throw ActuatorError("X display " + impl_->name + " does not offer the XTEST extension");
    }
}

X11Actuator::~X11Actuator() {
    if (!impl_->dpy) return;
    for (const auto& [code, count] : impl_->held_bound) impl_->fake_key(code, false);
    impl_->restore_bindings();
    XCloseDisplay(impl_->dpy);
}

void X11Actuator::move(Point to) {
    impl_->check_point(to);
    impl_->motion(to);
    XSync(impl_->dpy, False);
}

void X11Actuator::click(Point at, MouseButton button, int count) {
    if (count < 1)
        throw ActuatorError("click count must be at least 1 (got " + std::to_string(count) + ")");
    const unsigned b = Impl::button_number(button);
    impl_->check_point(at);
    impl_->motion(at);
    for (int i = 0; i < count; ++i) {
        if (i > 0) sleep_for(impl_->options.click_interval);
        impl_->fake_button(b, true);
        impl_->fake_button(b, false);
        XFlush(impl_->dpy);
    }
    XSync(impl_->dpy, False);
}

void X11Actuator::button(MouseButton button, bool down) {
    impl_->fake_button(Impl::button_number(button), down);
    XSync(impl_->dpy, False);
}

void X11Actuator::drag(Point from, Point to, MouseButton button) {
    const unsigned b = Impl::button_number(button);
    impl_->check_point(from);
    impl_->check_point(to);
    const int steps = std::max(1, impl_->options.drag_steps);
    const auto pause = impl_->options.drag_duration / steps;
    impl_->motion(from);
    impl_->fake_button(b, true);
    XFlush(impl_->dpy);
    sleep_for(pause);
    for (int i = 1; i <= steps; ++i) {
        const Point p{from.x + (to.x - from.x) * i / steps, from.y + (to.y - from.y) * i / steps};
        impl_->motion(p);
        XFlush(impl_->dpy);
        sleep_for(pause);
    }
    impl_->fake_button(b, false);
    XSync(impl_->dpy, False);
}

void X11Actuator::scroll(Point at, ScrollDirection direction, int clicks) {
    if (clicks < 1)
        throw ActuatorError("scroll needs at least 1 click (got " + std::to_string(clicks) + ")");
    unsigned b = 0;
    switch (direction) {
        case ScrollDirection::up:
            b = 4;
            break;
        case ScrollDirection::down:
            b = 5;
            break;
        case ScrollDirection::left:
            b = 6;
            break;
        case ScrollDirection::right:
            b = 7;
            break;
    }
    if (b == 0) throw ActuatorError("unknown scroll direction");
    impl_->check_point(at);
    impl_->motion(at);
    for (int i = 0; i < clicks; ++i) {
        if (i > 0) sleep_for(impl_->options.scroll_interval);
        impl_->fake_button(b, true);
        impl_->fake_button(b, false);
        XFlush(impl_->dpy);
    }
    XSync(impl_->dpy, False);
}

void X11Actuator::key(const std::string& name, bool down) {
    const KeySym ks = Impl::resolve_name(name);
    auto& impl = *impl_;
    auto keymap = impl.read_keymap();
    bool bound = false;
    const KeyCode code = impl.keycode_for(ks, name, keymap, bound);
    if (bound) XSync(impl.dpy, False);
    impl.fake_key(code, down);
    XSync(impl.dpy, False);
    if (!bound) return;
    if (down) {
        ++impl.held_bound[code];
    } else {
        impl.held_bound.erase(code);
        if (impl.held_bound.empty()) impl.restore_bindings();
    }
}

void X11Actuator::hotkey(const std::vector<std::string>& keys) {
    if (keys.empty()) throw ActuatorError("hotkey needs at least one key");
    std::vector<KeySym> syms;
    for (const auto& k : keys)
        syms.push_back(Impl::resolve_name(k));  // all valid before any is sent
    auto& impl = *impl_;
    auto keymap = impl.read_keymap();
    std::vector<KeyCode> codes;
    try {
        for (std::size_t i = 0; i < syms.size(); ++i) {
            bool bound = false;
            codes.push_back(impl.keycode_for(syms[i], keys[i], keymap, bound));
        }
    } catch (...) {
        if (impl.held_bound.empty()) impl.restore_bindings();
        throw;
    }
    XSync(impl.dpy, False);
    for (KeyCode c : codes) impl.fake_key(c, true);
    for (auto it = codes.rbegin(); it != codes.rend(); ++it) impl.fake_key(*it, false);
    XSync(impl.dpy, False);
    if (impl.held_bound.empty()) impl.restore_bindings();
}

void X11Actuator::type_text(const std::string& utf8) {
    const auto cps = decode_utf8(utf8);
    std::vector<KeySym> syms;
    syms.reserve(cps.size());
    for (std::size_t i = 0; i < cps.size(); ++i) {
        const auto ks = keysym_for_codepoint(cps[i]);
        if (!ks)
            throw ActuatorError("text contains " + hex(cps[i]) + " at character " +
                                std::to_string(i) +
                                ", a control character that cannot be typed; nothing was sent");
        syms.push_back(*ks);
    }
    if (syms.empty()) return;
    auto& impl = *impl_;
    auto keymap = impl.read_keymap();
    auto find = [&](KeySym ks) -> const Stroke* {
        auto it = keymap.strokes.find(ks);
        if (it == keymap.strokes.end() && ks < 0x100) it = keymap.strokes.find(0x1000000 + ks);
        return it == keymap.strokes.end() ? nullptr : &it->second;
    };
    bool needs_binding = false;
    for (KeySym ks : syms) needs_binding = needs_binding || !find(ks);
    if (needs_binding && keymap.spare.empty())
        throw ActuatorError(
            "X display " + impl.name +
            ": text needs characters missing from the keymap, and no spare keycode is free");
    const KeyCode shift = impl.shift_code(keymap);

    // Characters go in batches: each batch maps the missing characters it needs onto spare
    // keycodes at once, types, waits for clients to catch up and restores the mapping.
    std::size_t i = 0;
    while (i < syms.size()) {
        std::unordered_map<KeySym, KeyCode> batch;
        auto spare = keymap.spare;
        std::vector<Stroke> strokes;
        for (; i < syms.size(); ++i) {
            if (const Stroke* s = find(syms[i])) {
                strokes.push_back(*s);
                continue;
            }
            auto it = batch.find(syms[i]);
            if (it == batch.end()) {
                if (spare.empty()) break;
                it = batch.emplace(syms[i], impl.bind(syms[i], spare)).first;
            }
            strokes.push_back({it->second, false});
        }
        if (!batch.empty()) XSync(impl.dpy, False);
        for (const auto& s : strokes) impl.stroke(s, shift);
        XSync(impl.dpy, False);
        impl.restore_bindings();
    }
}

void X11Actuator::wait(std::chrono::milliseconds duration) {
    sleep_for(duration);
}

Point X11Actuator::pointer_position() {
    Window root_return, child;
    int root_x = 0, root_y = 0, win_x, win_y;
    unsigned mask;
    XQueryPointer(impl_->dpy, DefaultRootWindow(impl_->dpy), &root_return, &child, &root_x, &root_y,
                  &win_x, &win_y, &mask);
    return {root_x, root_y};
}

std::vector<vision::Monitor> X11Actuator::monitors() {
    return vision::query_x11_monitors(impl_->dpy);
}

const std::string& X11Actuator::display_name() const {
    return impl_->name;
}

X11ActuatorOptions& X11Actuator::options() {
    return impl_->options;
}

}  // namespace deskpilot::actuators
