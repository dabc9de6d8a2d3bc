#include "agent/eval/grounding.h"

#include <cmath>
#include <stdexcept>

#include "planner/parser.h"

namespace deskpilot::agent::eval {
namespace {

vision::Rect rect_of(const nlohmann::json& w) {
    const auto& r = w.at("rect");
    if (!r.is_array() || r.size() != 4) throw std::invalid_argument("rect is not [x,y,w,h]");
    return {r[0].get<int>(), r[1].get<int>(), r[2].get<int>(), r[3].get<int>()};
}

std::string instruction_for(const std::string& role, const std::string& label) {
    if (role == "button") return "Click the \"" + label + "\" button";
    if (role == "checkbox") return "Click the checkbox labelled \"" + label + "\"";
    if (role == "radio") return "Click the \"" + label + "\" radio button";
    if (role == "list_item") return "Click \"" + label + "\" in the list";
    if (role == "tab") return "Click the \"" + label + "\" tab";
    return "Click the \"" + label + "\" menu";
}

}  // namespace

std::vector<GroundingTarget> pick_grounding_targets(const nlohmann::json& widgets, unsigned seed) {
    std::vector<GroundingTarget> all;
    for (const auto& w : widgets) {
        const std::string name = w.value("name", std::string());
        try {
            if (!w.value("visible", false)) continue;
            const std::string role = w.value("role", std::string());
            if (role == "tab" && w.value("selected", false))
                continue;  // clicking it changes nothing
            if (role != "button" && role != "checkbox" && role != "radio" && role != "list_item" &&
                role != "tab" && role != "menu")
                continue;
            if (role == "checkbox" && name != "agree")
                continue;  // the other one hides behind a tab
            GroundingTarget t{name, role, w.value("label", std::string()), rect_of(w), {}};
            if (t.rect.width <= 0 || t.rect.height <= 0 || t.label.empty()) continue;
            t.instruction = instruction_for(role, t.label);
            all.push_back(std::move(t));
        } catch (const std::exception& e) {
            throw std::invalid_argument("sandbox layout: widget '" + name + "': " + e.what());
        }
    }
    // One of each role that has several interchangeable members, chosen by the seed; all buttons.
    std::vector<GroundingTarget> picked;
    for (const std::string role : {"button", "checkbox", "radio", "list_item", "tab", "menu"}) {
        std::vector<const GroundingTarget*> of_role;
        for (const auto& t : all)
            if (t.role == role) of_role.push_back(&t);
        if (of_role.empty()) continue;
        if (role == "button") {
            for (const auto* t : of_role) picked.push_back(*t);
        } else {
            const unsigned k =
                (seed * 2654435761u + static_cast<unsigned>(role.size())) % of_role.size();
            picked.push_back(*of_role[k]);
        }
    }
    return picked;
}

GroundingScore score_point(const GroundingTarget& target, vision::Point point) {
    GroundingScore score;
    score.point = point;
    score.hit = target.rect.contains(point);
    const auto c = target.rect.center();
    score.distance = std::hypot(point.x - c.x, point.y - c.y);
    return score;
}

GroundingScore score_grounding(const GroundingTarget& target, const std::string& response,
                               const planner::CoordinateMapper& mapper) {
    GroundingScore score;
    try {
        score.step = planner::parse_step(response, mapper);
        for (const auto& action : score.step->actions)
            if (action.point) {
                score.point = action.point;
                break;
            }
        if (!score.point) score.error = "the answer has no action with a position";
    } catch (const std::exception& e) {
        score.error = e.what();
    }
    if (!score.point) return score;
    GroundingScore scored = score_point(target, *score.point);
    scored.step = std::move(score.step);
    return scored;
}

}  // namespace deskpilot::agent::eval
