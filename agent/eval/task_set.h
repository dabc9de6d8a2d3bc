// eval::EvalTask: the task suite's tasks as data (a JSON file): what to ask, on which seeded
// sandbox, when it counts as done (conditions over the sandbox's --state events), and a
// machine-readable plan that an oracle can follow (used by the tests' scripted model).
//
//   {"tasks": [{"id": "save-name", "seed": 3, "max_steps": 8,
//               "text": "Type 'Ada' into the {label:name} field, then click {label:save}.",
//               "success": [{"event": "text", "widget": "name", "value": "Ada"},
//                           {"event": "clicked", "widget": "save"}],
//               "plan": [{"click": "name"}, {"type": "Ada"}, {"click": "save"}]}]}
//
// "{label:W}" in the text becomes widget W's label on that seed's screen. A condition holds when
// some event has every one of its fields equal; a field given as {">=": N} compares numbers.
// Plan steps: click / double_click / right_click (widget name), type (text), hotkey (keys),
// scroll (widget name, with "direction").
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace deskpilot::agent::eval {

class EvalError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct EvalTask {
    std::string id;
    std::string text;  // with {label:W} slots
    unsigned seed = 0;
    int max_steps = 10;
    nlohmann::json success = nlohmann::json::array();  // conditions, all must hold
    nlohmann::json plan = nlohmann::json::array();
};

// Throws EvalError naming the file (or "tasks"), the task and the field that is wrong.
std::vector<EvalTask> parse_tasks(const nlohmann::json& json, const std::string& source = "tasks");
std::vector<EvalTask> load_tasks(const std::filesystem::path& path);

// The text with each {label:W} replaced by W's label in `widgets`; throws EvalError for a widget
// the layout lacks.
std::string render_task_text(const EvalTask& task, const nlohmann::json& widgets);

// Whether one event satisfies one condition.
bool condition_holds(const nlohmann::json& condition, const nlohmann::json& event);
// The conditions no event satisfies, as compact JSON texts joined by "; " (empty: success).
std::string unmet_conditions(const EvalTask& task, const std::vector<nlohmann::json>& events);

// Whether the plan needs a pointer position (a click or a scroll at a widget).
bool plan_uses_pointer(const EvalTask& task);

}  // namespace deskpilot::agent::eval
