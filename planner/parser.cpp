#include "planner/parser.h"

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <optional>
#include <string>

#include "planner/coordinates.h"

namespace deskpilot::planner {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::string trimmed(std::string_view s) {
    while (!s.empty() &&
           (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r'))
        s.remove_prefix(1);
    while (!s.empty() &&
           (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
        s.remove_suffix(1);
    return std::string(s);
}

// Names some UI-TARS variants use for our actions.
std::optional<ActionType> action_for_name(std::string_view name) {
    if (auto type = action_type_from_string(name)) return type;
    if (name == "left_single") return ActionType::click;
    if (name == "move_to" || name == "mouse_move") return ActionType::hover;
    if (name == "select") return ActionType::drag;
    return std::nullopt;
}

class ActionBuilder {
  public:
    ActionBuilder(const RawCall& call, int index, int count, const CoordinateMapper& mapper,
                  Step& step)
        : call_(call), index_(index), count_(count), mapper_(mapper), step_(step) {}

    Action build() {
        const auto type = action_for_name(call_.name);
        if (!type)
            fail("unknown action '" + std::string(call_.name) + "'", call_.position, call_.text);
        Action action;
        action.type = *type;
        const ActionShape shape = shape_of(*type);
        used_ = 0;
        if (shape.point) action.point = point("start_box", action);
        if (shape.end_point) action.end = point("end_box", action);
        if (shape.keys) {
            const RawArgument* key =
                any_of({"key", "hotkey", "keys", std::string(to_string(*type))});
            if (!key)
                fail(std::string(to_string(*type)) + " needs key='…'", call_.position, call_.text);
            std::string current;
            for (char c : lower(key->text())) {
                if (c == ' ' || c == '\t' || c == '\n') {
                    if (!current.empty()) action.keys.push_back(std::move(current));
                    current.clear();
                } else {
                    current += c;
                }
            }
            if (!current.empty()) action.keys.push_back(std::move(current));
            if (action.keys.empty())
                fail(std::string(to_string(*type)) + " has an empty key", key->position,
                     call_.text);
        }
        if (shape.text) {
            const RawArgument* content = any_of({"content", "text"});
            if (!content) fail("type needs content='…'", call_.position, call_.text);
            action.text = content->text();
        } else if (*type == ActionType::finished || *type == ActionType::call_user) {
            if (const RawArgument* content = any_of({"content", "text"}))
                action.text = content->text();
        }
        if (shape.direction) {
            const RawArgument* direction = any_of({"direction"});
            if (!direction)
                fail("scroll needs direction='up|down|left|right'", call_.position, call_.text);
            action.direction = lower(trimmed(direction->text()));
            if (action.direction != "up" && action.direction != "down" &&
                action.direction != "left" && action.direction != "right")
                fail("direction must be up, down, left or right, not '" + direction->text() + "'",
                     direction->position, call_.text);
        }
        if (shape.app_name) {
            const RawArgument* app = any_of({"app_name"});
            if (!app || trimmed(app->text()).empty())
                fail("open_app needs app_name='…'", call_.position, call_.text);
            action.app_name = trimmed(app->text());
        }
        for (std::size_t i = 0; i < call_.arguments.size(); ++i)
            if (!(i < 64 && (used_ >> i) & 1) && !call_.arguments[i].value.empty())
                step_.warnings.push_back(prefix() + "ignored argument '" +
                                         std::string(call_.arguments[i].name) + "' of " +
                                         std::string(call_.name));
        return action;
    }

  private:
    [[noreturn]] void fail(const std::string& problem, std::size_t position,
                           std::string_view text) const {
        throw ParseError(problem, position, text, index_, count_);
    }

    std::string prefix() const {
        return count_ > 1
                   ? "action " + std::to_string(index_ + 1) + " (" + std::string(call_.name) + "): "
                   : std::string(call_.name) + ": ";
    }

    const RawArgument* any_of(std::initializer_list<std::string_view> names) {
        for (std::string_view name : names)
            for (std::size_t i = 0; i < call_.arguments.size(); ++i)
                if (call_.arguments[i].name == name) {
                    if (i < 64) used_ |= std::uint64_t{1} << i;
                    return &call_.arguments[i];
                }
        return nullptr;
    }

    vision::Point point(const char* name, Action& action) {
        const RawArgument* argument = any_of({name});
        if (!argument || trimmed(argument->value).empty())
            fail(std::string(call_.name) + " needs " + name + "='(x,y)'", call_.position,
                 call_.text);
        std::string problem;
        const auto model = parse_model_point(argument->value, &problem);
        if (!model)
            fail("bad coordinate in " + std::string(name) + ": " + problem, argument->position,
                 argument->value);
        const MappedPoint mapped = mapper_.map(model->x, model->y);
        if (mapped.out_of_range) {
            action.out_of_range = true;
            const vision::Size screen = mapper_.physical_screen();
            step_.warnings.push_back(prefix() + name + " (" + trimmed(argument->value) +
                                     ") maps to (" + std::to_string(mapped.pixel.x) + "," +
                                     std::to_string(mapped.pixel.y) + "), outside the " +
                                     std::to_string(screen.width) + "x" +
                                     std::to_string(screen.height) + " screen; kept as is");
        }
        return mapped.pixel;
    }

    const RawCall& call_;
    int index_;
    int count_;
    const CoordinateMapper& mapper_;
    Step& step_;
    std::uint64_t used_ = 0;  // arguments read, by index
};

}  // namespace

Step build_step(std::string_view response, RawResponse raw, const CoordinateMapper& mapper) {
    Step step;
    step.raw = std::string(response);
    step.thought = std::move(raw.thought);
    step.reflection = std::move(raw.reflection);
    step.reasoning = std::move(raw.reasoning);
    step.summary = std::move(raw.summary);
    step.actions.reserve(raw.calls.size());
    const int count = static_cast<int>(raw.calls.size());
    for (int i = 0; i < count; ++i)
        step.actions.push_back(
            ActionBuilder(raw.calls[static_cast<std::size_t>(i)], i, count, mapper, step).build());
    return step;
}

Step parse_step(std::string_view response, const CoordinateMapper& mapper) {
    // The grammar's calls and arguments are scratch: keep them in a buffer on the stack.
    std::byte buffer[4096];
    std::pmr::monotonic_buffer_resource scratch(buffer, sizeof buffer);
    return build_step(response, parse_response_grammar(response, &scratch), mapper);
}

}  // namespace deskpilot::planner
