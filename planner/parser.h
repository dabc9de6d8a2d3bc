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

// For callers that parse many responses (benchmarks, replays, fuzzing): the same result as
// parse_step / build_step, written into `out`, reusing the capacity `out` already has (its strings
// are assigned into, its action list and the actions' strings cleared and refilled, not freed), so
// that a Step kept across responses parses without heap allocation once it has grown.
//
//   Step step;
//   for (const std::string& r : responses) { parse_step_into(r, mapper, step); use(step); }
//
// On success `out` equals what parse_step would return: every field is overwritten, nothing of
// the previous response remains. On an error it throws the same ParseError (same message) as
// parse_step and leaves `out` empty — equal to Step{}, capacity kept — never half filled.
void parse_step_into(std::string_view response, const CoordinateMapper& mapper, Step& out);
void build_step_into(std::string_view response, const RawResponse& raw,
                     const CoordinateMapper& mapper, Step& out);

}  // namespace deskpilot::planner
