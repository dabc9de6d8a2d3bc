#include "planner/parse_error.h"

namespace deskpilot::planner {

namespace {

std::string compose(const std::string& problem, std::size_t position, std::string_view offending,
                    int action_index, int action_count) {
    std::string message;
    if (action_index >= 0 && action_count > 1)
        message = "action " + std::to_string(action_index + 1) + " of " +
                  std::to_string(action_count) + ": ";
    message += problem + " at offset " + std::to_string(position);
    if (!offending.empty()) message += ": '" + excerpt(offending) + "'";
    return message;
}

}  // namespace

ParseError::ParseError(const std::string& problem, std::size_t position, std::string_view offending,
                       int action_index, int action_count)
    : std::runtime_error(compose(problem, position, offending, action_index, action_count)),
      problem_(problem),
      position_(position),
      offending_(offending),
      action_index_(action_index) {}

std::string excerpt(std::string_view text, std::size_t max_chars) {
    std::size_t end = text.size();
    bool cut = false;
    if (end > max_chars) {
        end = max_chars;
        // Never split a UTF-8 sequence: back up over continuation bytes.
        while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
        cut = true;
    }
    std::string out;
    out.reserve(end + 8);
    for (std::size_t i = 0; i < end; ++i) {
        const char c = text[i];
        if (c == '\n')
            out += "\\n";
        else if (c == '\r')
            out += "\\r";
        else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            out += '?';
        else
            out += c;
    }
    if (cut) out += "\xE2\x80\xA6";
    return out;
}

}  // namespace deskpilot::planner
