// eval::grounding: which widgets of a seeded sandbox screen the grounding suite asks a model to
// click, and how an answer is scored. Pure functions over the sandbox's layout JSON, so the same
// seed (the same layout) always gives the same targets and instructions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "planner/family.h"
#include "planner/step.h"
#include "vision/frame.h"

namespace deskpilot::agent::eval {

struct GroundingTarget {
    std::string widget;  // layout name, e.g. "save", "item_3", "menu_file"
    std::string role;    // layout role: button, checkbox, radio, list_item, tab, menu
    std::string label;
    vision::Rect rect;        // screen pixels
    std::string instruction;  // e.g. Click the "Save" button
};

// Targets for one screen: every visible button, the "agree" checkbox, one radio button, one
// visible list item, the tab not shown, one menu title. Which radio, item and menu depends only on
// `seed`. Throws std::invalid_argument naming the widget whose layout entry is malformed.
std::vector<GroundingTarget> pick_grounding_targets(const nlohmann::json& widgets, unsigned seed);

struct GroundingScore {
    std::optional<vision::Point> point;  // where the model clicked, screen pixels
    bool hit = false;
    double distance = 0;  // from the point to the target's centre (0 without a point)
    std::string error;    // why there is no point: a parse error, no pointing action
    // The parsed answer (score_grounding), for what looks at it again (the second look); empty
    // when it did not parse.
    std::optional<planner::Step> step;
};

// Scores a point (screen pixels) against the target.
GroundingScore score_point(const GroundingTarget& target, vision::Point point);

// Parses `response` with the family's grammar and scores its first pointing action.
GroundingScore score_grounding(const GroundingTarget& target, const std::string& response,
                               const planner::CoordinateMapper& mapper);

}  // namespace deskpilot::agent::eval
