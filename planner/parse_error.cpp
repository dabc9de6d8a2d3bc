#include "planner/parse_error.h"

#include "planner/utf8.h"

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
    // Model output may hold any bytes, and callers pass prefixes cut at a byte count; the excerpt
    // goes into JSON results and session files, so it must be well-formed UTF-8: a sequence cut
    // at the end is dropped (and counts as a cut), any other ill-formed byte becomes U+FFFD.
    bool cut = text.size() > max_chars;
    std::string clean;
    if (utf8::append_lossy(clean, text.substr(0, max_chars), true) > 0) cut = true;
    std::string out;
    out.reserve(clean.size() + 8);
    for (const char c : clean) {
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
