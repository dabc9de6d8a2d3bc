// planner::Action: one thing the agent does to the desktop, in integer screen pixels.
// The JSON form (DESIGN.md, "Conventions") is shared by the parser, session files and replay:
//   {"type":"click","x":100,"y":200}   {"type":"hotkey","keys":["ctrl","s"]}
//   {"type":"type","text":"hello\n"}   {"type":"drag","x":10,"y":10,"x2":300,"y2":10}
//   {"type":"scroll","x":500,"y":400,"direction":"down"}
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "vision/frame.h"

namespace deskpilot::planner {

// Named as UI-TARS names them.
enum class ActionType {
    click,
    left_double,
    right_single,
    drag,
    hotkey,
    type,
    scroll,
    wait,
    finished,
    call_user,
    long_press,
    open_app,
    press_home,
    press_back,
    press,
    release,
    hover,
};

std::string_view to_string(ActionType type);
// Returns nullopt for a name that is not an action.
std::optional<ActionType> action_type_from_string(std::string_view name);
// The same for the parser's hot path: false for a name that is not an action. (GCC returns the
// std::optional through the stack, stored in pieces and read back whole: a store-forwarding
// stall on every call the parser reads.)
bool action_type_from_string(std::string_view name, ActionType* type);

// Which fields an action of a given type needs.
struct ActionShape {
    bool point = false;      // x, y
    bool end_point = false;  // x2, y2
    bool keys = false;
    bool text = false;
    bool direction = false;
    bool app_name = false;
};
ActionShape shape_of(ActionType type);

struct Action {
    ActionType type = ActionType::wait;
    std::optional<vision::Point> point;  // x, y
    std::optional<vision::Point> end;    // x2, y2 (drag)
    std::vector<std::string> keys;       // hotkey / press / release, lowercase
    std::string text;                    // type content, finished / call_user message
    std::string direction;               // scroll: up / down / left / right
    std::string app_name;                // open_app
    bool out_of_range = false;           // the model's coordinate fell outside the screen

    friend bool operator==(const Action&, const Action&) = default;
};

// Bad action JSON; the message names the field and what was wrong.
class ActionError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

nlohmann::json to_json(const Action& action);
// Validates the object: known type, required fields present with the right types.
Action action_from_json(const nlohmann::json& json);
// Parses one JSON text (throws ActionError with the parser's message on malformed JSON).
Action action_from_json_text(std::string_view text);

}  // namespace deskpilot::planner
