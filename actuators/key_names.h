// Key names as actions spell them ("ctrl", "Return", "f5", "a") and UTF-8 text, turned into X
// keysyms. Pure functions with no X connection, so they are testable anywhere and can validate
// a whole action before anything is sent.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deskpilot::actuators {

using KeySym = std::uint32_t;  // X11 keysym value (X11's KeySym is unsigned long; values fit)

// The keysym for a key name, case-insensitive: ctrl/control, shift, alt, meta/super/win/cmd/
// command, enter/return, tab, esc/escape, backspace, delete/del, space, home, end, pageup,
// pagedown, up/down/left/right, arrowup/arrowdown/arrowleft/arrowright, insert, f1-f24,
// capslock, printscreen, and any single character (letters fold to lower case, so "ctrl+A" is
// ctrl+a). nullopt for anything else.
std::optional<KeySym> keysym_for_key_name(std::string_view name);

// The names keysym_for_key_name() knows besides single characters, lower case and sorted: for
// the engine's action grammar (model::NativeVlmConfig::key_names), which keeps a model's hotkeys
// to keys the agent can press.
std::vector<std::string> key_name_list();

// The keysym that produces `codepoint` when typed: Latin-1 keysyms for Latin-1, Unicode keysyms
// (0x1000000 + code point) otherwise; '\n' is Return and '\t' Tab. nullopt for other control
// characters, which cannot be typed.
std::optional<KeySym> keysym_for_codepoint(char32_t codepoint);

// Decodes UTF-8; throws ActuatorError naming the byte offset of the first invalid sequence.
std::vector<char32_t> decode_utf8(std::string_view text);

}  // namespace deskpilot::actuators
