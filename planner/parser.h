// planner::parse_step: a model's text response → a Step with actions in physical screen pixels.
//
//   const auto* family = find_family("ui-tars-1.5");
//   Step step = parse_step(response, CoordinateMapper(*family, {1920, 1080}));
//
// Throws ParseError for an unknown action, a missing required argument, a malformed call or
// coordinate; it names the offending text, its offset and (with several actions) which one.
#pragma once

#include <string_view>

#include "planner/family.h"
#include "planner/parse_error.h"
#include "planner/response_grammar.h"
#include "planner/step.h"

namespace deskpilot::planner {

Step parse_step(std::string_view response, const CoordinateMapper& mapper);

// The same after the grammar ran (for callers that already hold a RawResponse).
Step build_step(std::string_view response, const RawResponse& raw, const CoordinateMapper& mapper);

}  // namespace deskpilot::planner
