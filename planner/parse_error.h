// planner::ParseError: a model response the grammar cannot turn into actions. The message names
// the offending text and its byte offset in the response, and, in a step with several actions,
// which action (1-based) was at fault.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace deskpilot::planner {

class ParseError : public std::runtime_error {
  public:
    // action_index: 0-based index of the faulty action, or -1 when the fault is not in one action.
    ParseError(const std::string& problem, std::size_t position, std::string_view offending,
               int action_index = -1, int action_count = 0);

    std::size_t position() const { return position_; }
    int action_index() const { return action_index_; }
    const std::string& problem() const { return problem_; }
    const std::string& offending() const { return offending_; }

  private:
    std::string problem_;
    std::size_t position_;
    std::string offending_;
    int action_index_;
};

// At most the first `max_chars` bytes of text as well-formed UTF-8 (cut at a sequence boundary;
// ill-formed bytes shown as U+FFFD), with "…" when cut; newlines shown as \n, other control
// characters as '?'.
std::string excerpt(std::string_view text, std::size_t max_chars = 60);

}  // namespace deskpilot::planner
