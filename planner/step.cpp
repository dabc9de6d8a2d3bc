#include "planner/step.h"

#include <nlohmann/json.hpp>

namespace deskpilot::planner {

nlohmann::json to_json(const Step& step) {
    nlohmann::json json;
    json["thought"] = step.thought;
    json["reflection"] = step.reflection;
    nlohmann::json actions = nlohmann::json::array();
    for (const Action& action : step.actions) actions.push_back(to_json(action));
    json["actions"] = std::move(actions);
    if (!step.reasoning.empty()) json["reasoning"] = step.reasoning;
    if (!step.summary.empty()) json["summary"] = step.summary;
    if (!step.warnings.empty()) json["warnings"] = step.warnings;
    return json;
}

}  // namespace deskpilot::planner
