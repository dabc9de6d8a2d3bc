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
#include <memory_resource>
#include <string>
#include <string_view>
#include <vector>

namespace deskpilot::planner {

struct RawArgument {
    // As written (a view into the response), except point/start_point → start_box and
    // end_point → end_box.
    std::string_view name;
    // The value as written (a view into the response), without its quotes.
    std::string_view value;
    bool python_string = false;  // a quoted value: text() decodes its Python escapes
    std::size_t position = 0;    // byte offset of the argument in the response

    // The value as text: Python escapes decoded for a quoted value, XML values as written.
    std::string text() const;
};

// The calls and their arguments live in a memory resource the caller may give (parse_step
// uses a buffer on its stack, so parsing a typical response allocates only what the Step keeps).
struct RawCall {
    using allocator_type = std::pmr::polymorphic_allocator<RawArgument>;

    std::string_view name;  // a view into the response
    std::pmr::vector<RawArgument> arguments;
    std::size_t position = 0;  // byte offset of the call in the response
    std::string_view text;     // the call as written (a view into the response)

    RawCall() = default;
    explicit RawCall(const allocator_type& a) : arguments(a) {}
    RawCall(const RawCall& o, const allocator_type& a)
        : name(o.name), arguments(o.arguments, a), position(o.position), text(o.text) {}
    RawCall(RawCall&& o, const allocator_type& a)
        : name(o.name), arguments(std::move(o.arguments), a), position(o.position), text(o.text) {}
    RawCall(const RawCall&) = default;
    RawCall(RawCall&&) = default;
    RawCall& operator=(const RawCall&) = default;
    RawCall& operator=(RawCall&&) = default;

    const RawArgument* find(std::string_view argument) const;
};

struct RawResponse {
    explicit RawResponse(std::pmr::memory_resource* memory = std::pmr::get_default_resource())
        : calls(memory) {}

    std::string thought;
    std::string reflection;
    std::string reasoning;
    std::string summary;
    std::pmr::vector<RawCall> calls;
};

// The result holds views into `response`: keep the response alive while using it.
// Throws ParseError for a response with no call, a malformed call, or an unclosed block.
// Linear in the response size, apart from a bounded number of Action: markers tried.
RawResponse parse_response_grammar(std::string_view response, std::pmr::memory_resource* memory =
                                                                  std::pmr::get_default_resource());

// At most this many "Action:" markers are tried in one response (bounds the work on hostile input).
inline constexpr std::size_t kMaxActionMarkers = 256;
// A longer response is rejected up front (model answers are a few KB; this bounds the work).
inline constexpr std::size_t kMaxResponseBytes = 1 << 20;

}  // namespace deskpilot::planner
