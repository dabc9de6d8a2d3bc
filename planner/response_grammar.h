// The UI-TARS response grammar, before any coordinate mapping: which layout the response uses,
// its thought / reflection / reasoning, and each call with its arguments as written.
//
// Layouts (see planner/README.md for the full table):
//   Thought: … Action: …            Reflection: … Action_Summary: … Action: …
//   Action_Summary: … Action: …     a bare call            Action： (full-width colon)
//   <think>…</think> before any of these (kept as reasoning)
//   <Thought>…</Thought> … Action_Summary: … Action: … </Output>   (o1)
//   <seed:tool_call><function=click><parameter=point>…</parameter></function></seed:tool_call>
// Several "Action:" markers: the last one followed by a call wins, as in the official parsers.
// Several calls after it, separated by blank lines: all of them, in order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "planner/small_vector.h"

namespace deskpilot::planner {

// Everything below is a view into the response: keep the response alive while using it.
struct RawArgument {
    // As written, except point/start_point → start_box and end_point → end_box.
    std::string_view name;
    // The value as written, without its quotes.
    std::string_view value;
    std::size_t position = 0;    // byte offset of the argument in the response
    bool python_string = false;  // a quoted value: text() decodes its Python escapes

    // The value as text: Python escapes decoded for a quoted value, XML values as written.
    std::string text() const;
};

struct RawCall {
    std::string_view name;
    std::string_view text;     // the call as written
    std::size_t position = 0;  // byte offset of the call in the response
    // Its arguments: RawResponse::arguments[first_argument, first_argument + argument_count).
    std::uint32_t first_argument = 0;
    std::uint32_t argument_count = 0;
};

struct RawResponse {
    std::string_view thought;
    std::string_view reflection;
    std::string_view reasoning;
    std::string_view summary;
    SmallVector<RawCall, 4> calls;          // the chosen calls, in order
    SmallVector<RawArgument, 8> arguments;  // their arguments (RawCall::first_argument…)

    std::span<const RawArgument> arguments_of(const RawCall& call) const {
        return arguments.span(call.first_argument, call.argument_count);
    }
};

// Fills `out` (empty) from `response`; `out` holds views into `response`.
// Throws ParseError for a response with no call, a malformed call, or an unclosed block.
// Linear in the response size, apart from a bounded number of Action: markers tried.
void parse_response_grammar(std::string_view response, RawResponse& out);

// At most this many "Action:" markers are tried in one response (bounds the work on hostile input).
inline constexpr std::size_t kMaxActionMarkers = 256;
// A longer response is rejected up front (model answers are a few KB; this bounds the work).
inline constexpr std::size_t kMaxResponseBytes = 1 << 20;

}  // namespace deskpilot::planner
