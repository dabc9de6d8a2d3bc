#include "planner/parser.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "planner/coordinates.h"
#include "planner/python_string.h"

namespace deskpilot::planner {

namespace {

void lower_in_place(std::string& s) {
    for (char& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
}

bool is_line_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string_view trimmed(std::string_view s) {
    while (!s.empty() && is_line_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_line_space(s.back())) s.remove_suffix(1);
    return s;
}

// An argument's text as a view: the value itself unless Python escapes need decoding into
// *storage (most values have none, so most arguments cost no copy here).
std::string_view text_of(const RawArgument& argument, std::string& storage) {
    if (!argument.python_string || argument.value.find('\\') == std::string_view::npos)
        return argument.value;
    storage = unescape_python(argument.value);
    return storage;
}

// Our action for a call name: UI-TARS's names, and names some variants use for our actions.
// Returns false for an unknown name. (Not a std::optional: GCC copies that through the stack in
// pieces and reads it back whole, a store-forwarding stall on every action.) The common names are
// matched here by length and constant-size compares, which the compiler inlines; the rest go to
// the general lookup.
bool action_for_name(std::string_view name, ActionType* type) {
    auto is = [&](std::string_view known) {
        return std::memcmp(name.data(), known.data(), known.size()) == 0;
    };
    switch (name.size()) {
        case 4:
            if (is("drag")) return *type = ActionType::drag, true;
            if (is("type")) return *type = ActionType::type, true;
            if (is("wait")) return *type = ActionType::wait, true;
            break;
        case 5:
            if (is("click")) return *type = ActionType::click, true;
            break;
        case 6:
            if (is("hotkey")) return *type = ActionType::hotkey, true;
            if (is("scroll")) return *type = ActionType::scroll, true;
            break;
        case 8:
            if (is("finished")) return *type = ActionType::finished, true;
            if (is("open_app")) return *type = ActionType::open_app, true;
            break;
        case 9:
            if (is("call_user")) return *type = ActionType::call_user, true;
            break;
        case 10:
            if (is("long_press")) return *type = ActionType::long_press, true;
            if (is("press_home")) return *type = ActionType::press_home, true;
            if (is("press_back")) return *type = ActionType::press_back, true;
            break;
        case 11:
            if (is("left_double")) return *type = ActionType::left_double, true;
            break;
        case 12:
            if (is("right_single")) return *type = ActionType::right_single, true;
            break;
        default:
            break;
    }
    if (action_type_from_string(name, type)) return true;
    if (name == "left_single")
        *type = ActionType::click;
    else if (name == "move_to" || name == "mouse_move")
        *type = ActionType::hover;
    else if (name == "select")
        *type = ActionType::drag;
    else
        return false;
    return true;
}

// up, down, left or right, by length and constant-size compares (inlined; operator== on a
// std::string calls memcmp).
bool is_direction(std::string_view d) {
    auto is = [&](std::string_view known) {
        return std::memcmp(d.data(), known.data(), known.size()) == 0;
    };
    switch (d.size()) {
        case 2:
            return is("up");
        case 4:
            return is("down") || is("left");
        case 5:
            return is("right");
        default:
            return false;
    }
}

// shape_of(type) as bits in one byte per type, read inline: shape_of returns its six bools from
// another file packed through the stack (two stores read back as one wider load, a
// store-forwarding stall on every action).
constexpr unsigned kNeedsPoint = 1, kNeedsEnd = 2, kNeedsKeys = 4, kNeedsText = 8,
                   kNeedsDirection = 16, kNeedsAppName = 32;
const auto kShapeBits = [] {
    std::array<std::uint8_t, static_cast<std::size_t>(ActionType::hover) + 1> bits{};
    for (std::size_t i = 0; i < bits.size(); ++i) {
        const ActionShape shape = shape_of(static_cast<ActionType>(i));
        bits[i] = static_cast<std::uint8_t>(
            (shape.point ? kNeedsPoint : 0u) | (shape.end_point ? kNeedsEnd : 0u) |
            (shape.keys ? kNeedsKeys : 0u) | (shape.text ? kNeedsText : 0u) |
            (shape.direction ? kNeedsDirection : 0u) | (shape.app_name ? kNeedsAppName : 0u));
    }
    return bits;
}();

// The argument names the builder asks for, as small integers: each argument's name is compared
// with the known names once per call, not once per name asked for.
enum ArgumentKey : std::uint8_t {
    kOtherArgument,
    kStartBox,
    kEndBox,
    kKey,
    kHotkey,
    kKeys,
    kPress,
    kRelease,
    kContent,
    kText,
    kDirection,
    kAppName,
};

[[gnu::always_inline]] inline ArgumentKey key_of(std::string_view name) {
    auto is = [&](std::string_view known) {
        return std::memcmp(name.data(), known.data(), known.size()) == 0;
    };
    switch (name.size()) {
        case 3:
            if (is("key")) return kKey;
            break;
        case 4:
            if (is("keys")) return kKeys;
            if (is("text")) return kText;
            break;
        case 5:
            if (is("press")) return kPress;
            break;
        case 6:
            if (is("hotkey")) return kHotkey;
            break;
        case 7:
            if (is("end_box")) return kEndBox;
            if (is("content")) return kContent;
            if (is("release")) return kRelease;
            break;
        case 8:
            if (is("app_name")) return kAppName;
            break;
        case 9:
            if (is("start_box")) return kStartBox;
            if (is("direction")) return kDirection;
            break;
        default:
            break;
    }
    return kOtherArgument;
}

// The key argument a hotkey / press / release names itself by: hotkey(hotkey='ctrl c').
ArgumentKey self_key(ActionType type) {
    return type == ActionType::press ? kPress : type == ActionType::release ? kRelease : kHotkey;
}

class ActionBuilder {
  public:
    ActionBuilder(std::string_view name, std::string_view text, std::size_t position,
                  std::span<const RawArgument> arguments, int index, int count,
                  const CoordinateMapper& mapper, Step& step)
        : name_(name),
          text_(text),
          position_(position),
          arguments_(arguments),
          index_(index),
          count_(count),
          mapper_(mapper),
          step_(step) {
        const std::size_t known = arguments.size() < kKnownKeys ? arguments.size() : kKnownKeys;
        for (std::size_t i = 0; i < known; ++i) keys_[i] = key_of(arguments[i].name);
    }

    // Fills `action` (a fresh copy of a blank action, or one reused from an earlier response
    // and reset here) with the call's action.
    void build(Action& action) {
        ActionType type{};
        if (!action_for_name(name_, &type))
            fail("unknown action '" + std::string(name_) + "'", position_, text_);
        action.type = type;
        const auto index = static_cast<std::size_t>(type);
        // (hover is the last ActionType; a type added after it would need no field here.)
        const unsigned shape = index < kShapeBits.size() ? kShapeBits[index] : 0;
        if (shape & kNeedsPoint) point(kStartBox, "start_box", action, action.point);
        if (shape & kNeedsEnd) point(kEndBox, "end_box", action, action.end);
        std::string storage;
        if (shape & kNeedsKeys) {
            const RawArgument* key = any_of({kKey, kHotkey, kKeys, self_key(type)});
            if (!key) fail(std::string(to_string(type)) + " needs key='…'", position_, text_);
            split_keys(text_of(*key, storage), action.keys);
            if (action.keys.empty())
                fail(std::string(to_string(type)) + " has an empty key", key->position, text_);
        }
        if (shape & kNeedsText) {
            const RawArgument* content = any_of({kContent, kText});
            if (!content) fail("type needs content='…'", position_, text_);
            action.text.assign(text_of(*content, storage));
        } else if (type == ActionType::finished || type == ActionType::call_user) {
            if (const RawArgument* content = any_of({kContent, kText}))
                action.text.assign(text_of(*content, storage));
        }
        if (shape & kNeedsDirection) {
            const RawArgument* direction = any_of({kDirection});
            if (!direction) fail("scroll needs direction='up|down|left|right'", position_, text_);
            action.direction.assign(trimmed(text_of(*direction, storage)));
            lower_in_place(action.direction);
            if (!is_direction(action.direction))
                fail("direction must be up, down, left or right, not '" + direction->text() + "'",
                     direction->position, text_);
        }
        if (shape & kNeedsAppName) {
            const RawArgument* app = any_of({kAppName});
            if (!app || trimmed(text_of(*app, storage)).empty())
                fail("open_app needs app_name='…'", position_, text_);
            action.app_name.assign(trimmed(text_of(*app, storage)));
        }
        for (std::size_t i = 0; i < arguments_.size(); ++i)
            if (!(i < 64 && (used_ >> i) & 1) && !arguments_[i].value.empty())
                warn_ignored(arguments_[i]);
    }

  private:
    // The warnings are rare: kept out of line, so the common path's frame stays small.
    [[gnu::noinline, gnu::cold]] void warn_ignored(const RawArgument& argument) const {
        step_.warnings.push_back(prefix() + "ignored argument '" + std::string(argument.name) +
                                 "' of " + std::string(name_));
    }

    [[gnu::noinline, gnu::cold]] void warn_out_of_range(const char* name,
                                                        const RawArgument& argument,
                                                        vision::Point pixel) const {
        const vision::Size screen = mapper_.physical_screen();
        step_.warnings.push_back(prefix() + name + " (" + std::string(trimmed(argument.value)) +
                                 ") maps to (" + std::to_string(pixel.x) + "," +
                                 std::to_string(pixel.y) + "), outside the " +
                                 std::to_string(screen.width) + "x" +
                                 std::to_string(screen.height) + " screen; kept as is");
    }

    [[noreturn, gnu::noinline, gnu::cold]] void fail(const std::string& problem,
                                                     std::size_t position,
                                                     std::string_view text) const {
        throw ParseError(problem, position, text, index_, count_);
    }

    std::string prefix() const {
        return count_ > 1
                   ? "action " + std::to_string(index_ + 1) + " (" + std::string(name_) + "): "
                   : std::string(name_) + ": ";
    }

    ArgumentKey key(std::size_t i) const {
        return i < kKnownKeys ? keys_[i] : key_of(arguments_[i].name);
    }

    // The first argument named keys[0]; else the first named keys[1]; and so on.
    const RawArgument* any_of(std::initializer_list<ArgumentKey> keys) {
        for (ArgumentKey wanted : keys)
            for (std::size_t i = 0; i < arguments_.size(); ++i)
                if (key(i) == wanted) {
                    if (i < 64) used_ |= std::uint64_t{1} << i;
                    return &arguments_[i];
                }
        return nullptr;
    }

    // hotkey(key='Ctrl Shift T') → ["ctrl", "shift", "t"].
    static void split_keys(std::string_view text, std::vector<std::string>& keys) {
        auto is_separator = [](char c) { return c == ' ' || c == '\t' || c == '\n'; };
        std::size_t count = 0;  // reserve once: most hotkeys have two or three keys
        for (std::size_t i = 0; i < text.size(); ++i)
            count += !is_separator(text[i]) && (i == 0 || is_separator(text[i - 1]));
        keys.reserve(count);
        std::size_t i = 0;
        for (;;) {
            while (i < text.size() && is_separator(text[i])) ++i;
            if (i >= text.size()) return;
            const std::size_t start = i;
            while (i < text.size() && !is_separator(text[i])) ++i;
            lower_in_place(keys.emplace_back(text.substr(start, i - start)));
        }
    }

    // Writes the pixel into `slot` field by field: a vision::Point returned from this call comes
    // back packed in one register through the stack (two 4-byte stores read back as one 8-byte
    // load, a store-forwarding stall per coordinate).
    void point(ArgumentKey wanted, const char* name, Action& action,
               std::optional<vision::Point>& slot) {
        const RawArgument* argument = any_of({wanted});
        if (!argument || trimmed(argument->value).empty())
            fail(std::string(name_) + " needs " + name + "='(x,y)'", position_, text_);
        // The problem is asked for only after a failure: a std::string on every point costs.
        ModelPoint model;
        if (!parse_model_point(argument->value, &model, nullptr)) {
            std::string problem;
            parse_model_point(argument->value, &model, &problem);
            fail("bad coordinate in " + std::string(name) + ": " + problem, argument->position,
                 argument->value);
        }
        const MappedPoint mapped = mapper_.map(model.x, model.y);
        if (mapped.out_of_range) {
            action.out_of_range = true;
            warn_out_of_range(name, *argument, mapped.pixel);
        }
        vision::Point& pixel = slot.emplace();
        pixel.x = mapped.pixel.x;
        pixel.y = mapped.pixel.y;
    }

    std::string_view name_;
    std::string_view text_;
    std::size_t position_;
    std::span<const RawArgument> arguments_;
    int index_;
    int count_;
    const CoordinateMapper& mapper_;
    Step& step_;
    std::uint64_t used_ = 0;  // arguments read, by index
    // The first arguments' keys, looked up once; a call with more (hostile input) looks the rest
    // up when asked.
    static constexpr std::size_t kKnownKeys = 8;
    ArgumentKey keys_[kKnownKeys];
};

}  // namespace

namespace {

// A reused action back to a blank one's value, keeping its strings' and key list's capacity.
void reset(Action& action) {
    action.point.reset();
    action.end.reset();
    action.keys.clear();
    action.text.clear();
    action.direction.clear();
    action.app_name.clear();
    action.out_of_range = false;
}

// Every field empty, every capacity kept: `out`'s value after a failed parse into it.
void clear(Step& out) noexcept {
    out.thought.clear();
    out.reflection.clear();
    out.reasoning.clear();
    out.summary.clear();
    out.raw.clear();
    out.actions.clear();
    out.warnings.clear();
}

// Copies v into s. For a reused string: no allocation when its capacity suffices, and append()
// into a cleared string skips assign()'s checks for overlapping source and destination.
inline void copy_into(std::string& s, std::string_view v) {
    s.clear();
    if (!v.empty()) s.append(v.data(), v.size());
}

// Constructs s, a default-constructed (empty) string, as a copy of v, in place. Not a moved-in
// temporary: that is written to the stack and read back at once as one wider load, a
// store-forwarding stall per string; assign() into an empty string measured slower too, and
// aggregate-initialising the Step with its strings zero-fills the whole object first.
inline void construct_copy(std::string& s, std::string_view v) {
    if (v.empty()) return;
    std::destroy_at(&s);  // empty: frees nothing
    std::construct_at(&s, v.data(), v.size());
}

// kFresh: `out` is a new, empty Step (parse_step / build_step); otherwise one reused from an
// earlier response (parse_step_into / build_step_into).
template <bool kFresh>
void fill(std::string_view response, const RawResponse& raw, const CoordinateMapper& mapper,
          Step& out) {
    if constexpr (kFresh) {
        construct_copy(out.raw, response);
        construct_copy(out.thought, raw.thought);
        construct_copy(out.reflection, raw.reflection);
        construct_copy(out.reasoning, raw.reasoning);
        construct_copy(out.summary, raw.summary);
    } else {
        // Written into the capacity the reused Step already has; an empty view clears.
        copy_into(out.raw, response);
        copy_into(out.thought, raw.thought);
        copy_into(out.reflection, raw.reflection);
        copy_into(out.reasoning, raw.reasoning);
        copy_into(out.summary, raw.summary);
        out.warnings.clear();
    }
    const std::size_t count = raw.calls.size();
    // Actions beyond this response's count go (their strings with them); the others are reset
    // and refilled in place, keeping their strings' capacity.
    if (!kFresh && out.actions.size() > count)
        out.actions.erase(out.actions.begin() + static_cast<std::ptrdiff_t>(count),
                          out.actions.end());
    const std::size_t reusable = kFresh ? 0 : out.actions.size();
    out.actions.reserve(count);
    // Built in place as a default-initialised (blank) action, through a conversion the compiler
    // elides. Not emplace_back() or Action(type): value-initialisation zero-fills the whole
    // object first (`rep stos`, slow at this size); not a local moved in: moving a short string
    // copies its buffer right after it was written, a store-forwarding stall; and not a copy of
    // a static blank action: an out-of-line copy constructor call per action.
    struct Blank {
        operator Action() const {
            Action blank;
            return blank;
        }
    };
    for (std::size_t i = 0; i < count; ++i) {
        Action* action = nullptr;
        if (!kFresh && i < reusable) {
            action = &out.actions[i];
            reset(*action);
        } else {
            action = &out.actions.emplace_back(Blank{});
        }
        const RawCall& call = raw.calls[i];
        ActionBuilder(call.name, call.text, call.position, raw.arguments_of(call),
                      static_cast<int>(i), static_cast<int>(count), mapper, out)
            .build(*action);
    }
}

}  // namespace

void build_step_into(std::string_view response, const RawResponse& raw,
                     const CoordinateMapper& mapper, Step& out) {
    try {
        fill<false>(response, raw, mapper, out);
    } catch (...) {
        clear(out);  // never half of this response over the rest of the previous one
        throw;
    }
}

void parse_step_into(std::string_view response, const CoordinateMapper& mapper, Step& out) {
    RawResponse raw;  // views into response; calls and arguments inline for a typical answer
    try {
        parse_response_grammar(response, raw);
        fill<false>(response, raw, mapper, out);
    } catch (...) {
        clear(out);
        throw;
    }
}

Step build_step(std::string_view response, const RawResponse& raw, const CoordinateMapper& mapper) {
    Step step;
    fill<true>(response, raw, mapper, step);
    return step;
}

Step parse_step(std::string_view response, const CoordinateMapper& mapper) {
    RawResponse raw;  // views into response; calls and arguments inline for a typical answer
    parse_response_grammar(response, raw);
    Step step;
    fill<true>(response, raw, mapper, step);
    return step;
}

}  // namespace deskpilot::planner
