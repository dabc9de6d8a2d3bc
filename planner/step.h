// planner::Step: one parsed model turn — what the model thought and the actions it chose.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "planner/action.h"

namespace deskpilot::planner {

struct Step {
    std::string thought;     // "Thought:", or the Action_Summary of the Reflection / o1 layouts
    std::string reflection;  // "Reflection:" (UI-TARS-1.0 layout); empty otherwise
    std::string reasoning;   // a <think>…</think> block before the thought
    std::string summary;     // "Action_Summary:" when the o1 layout gives one beside <Thought>
    std::string raw;         // the response exactly as received
    std::vector<Action> actions;
    std::vector<std::string> warnings;  // e.g. a coordinate outside the screen, an ignored argument

    friend bool operator==(const Step&, const Step&) = default;
};

// {"thought":…,"reflection":…,"actions":[…]} plus "reasoning"/"summary"/"warnings" when not empty.
nlohmann::json to_json(const Step& step);

}  // namespace deskpilot::planner
