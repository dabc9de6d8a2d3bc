#include "actuators/key_names.h"

#include <X11/keysym.h>

#include <algorithm>
#include <cctype>
#include <unordered_map>

#include "actuators/actuator.h"

namespace deskpilot::actuators {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    return out;
}

const std::unordered_map<std::string, KeySym>& named_keys() {
    static const std::unordered_map<std::string, KeySym> table = [] {
        std::unordered_map<std::string, KeySym> t = {
            {"ctrl", XK_Control_L},
            {"control", XK_Control_L},
            {"shift", XK_Shift_L},
            {"alt", XK_Alt_L},
            {"meta", XK_Super_L},
            {"super", XK_Super_L},
            {"win", XK_Super_L},
            {"cmd", XK_Super_L},
            {"command", XK_Super_L},
            {"enter", XK_Return},
            {"return", XK_Return},
            {"tab", XK_Tab},
            {"esc", XK_Escape},
            {"escape", XK_Escape},
            {"backspace", XK_BackSpace},
            {"delete", XK_Delete},
            {"del", XK_Delete},
            {"space", XK_space},
            {"home", XK_Home},
            {"end", XK_End},
            {"pageup", XK_Page_Up},
            {"pagedown", XK_Page_Down},
            {"up", XK_Up},
            {"down", XK_Down},
            {"left", XK_Left},
            {"right", XK_Right},
            {"arrowup", XK_Up},
            {"arrowdown", XK_Down},
            {"arrowleft", XK_Left},
            {"arrowright", XK_Right},
            {"insert", XK_Insert},
            {"capslock", XK_Caps_Lock},
            {"printscreen", XK_Print},
        };
        for (int i = 1; i <= 24; ++i)
            t["f" + std::to_string(i)] = XK_F1 + static_cast<KeySym>(i - 1);
        return t;
    }();
    return table;
}

}  // namespace

std::optional<KeySym> keysym_for_key_name(std::string_view name) {
    if (name.empty()) return std::nullopt;
    if (auto it = named_keys().find(lower(name)); it != named_keys().end()) return it->second;
    // A single character (possibly multi-byte UTF-8).
    std::vector<char32_t> cps;
    try {
        cps = decode_utf8(name);
    } catch (const ActuatorError&) {
        return std::nullopt;
    }
    if (cps.size() != 1) return std::nullopt;
    char32_t cp = cps[0];
    if (cp == '\n' || cp == '\t') return std::nullopt;  // spelled "enter"/"tab" as names
    if (cp >= 'A' && cp <= 'Z') cp = cp - 'A' + 'a';
    return keysym_for_codepoint(cp);
}

std::vector<std::string> key_name_list() {
    std::vector<std::string> names;
    names.reserve(named_keys().size());
    for (const auto& entry : named_keys()) names.push_back(entry.first);
    std::sort(names.begin(), names.end());
    return names;
}

std::optional<KeySym> keysym_for_codepoint(char32_t cp) {
    if (cp == '\n') return XK_Return;
    if (cp == '\t') return XK_Tab;
    if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return std::nullopt;
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return std::nullopt;
    if (cp < 0x100) return static_cast<KeySym>(cp);
    return static_cast<KeySym>(0x1000000 + cp);
}

std::vector<char32_t> decode_utf8(std::string_view text) {
    std::vector<char32_t> out;
    out.reserve(text.size());
    std::size_t i = 0;
    auto bad = [&](std::size_t at) {
        throw ActuatorError("text is not valid UTF-8 (byte offset " + std::to_string(at) + ")");
    };
    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        int len = 0;
        char32_t cp = 0;
        if (c < 0x80) {
            len = 1;
            cp = c;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
        } else {
            bad(i);
        }
        if (i + len > text.size()) bad(i);
        for (int k = 1; k < len; ++k) {
            const auto cc = static_cast<unsigned char>(text[i + k]);
            if ((cc & 0xc0) != 0x80) bad(i);
            cp = (cp << 6) | (cc & 0x3f);
        }
        // Overlong forms, surrogates and values past U+10FFFF are invalid.
        static constexpr char32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) bad(i);
        out.push_back(cp);
        i += len;
    }
    return out;
}

}  // namespace deskpilot::actuators
