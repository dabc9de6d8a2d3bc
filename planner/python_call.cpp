// One UI-TARS action call in Python syntax: click(start_box='(100,200)'), type(content='…').
// Scanned by hand, not with regular expressions: every loop advances and the only look-ahead
// (quote_closes) is bounded by the next quote, so the cost is linear in the call's length.
#include <cstdint>

#include "planner/grammar_detail.h"

namespace deskpilot::planner::detail {

namespace {

// Does the quote at `pos` close the string? Models often leave an apostrophe unescaped
// (content='I'm here'), so a quote closes it only when what follows fits the call: ')' or the
// end, or ',' and the next argument name and '='. (Python's own parser does the same for
// type(content=…) with a lazy `'\)` match.)
bool quote_closes(std::string_view s, std::size_t pos) {
    std::size_t j = skip_ws(s, pos + 1);
    if (j >= s.size() || s[j] == ')') return true;
    if (s[j] != ',') return false;
    j = skip_ws(s, j + 1);
    if (j >= s.size() || s[j] == ')') return true;  // trailing comma
    const std::size_t name_end = scan_ident(s, j);
    if (name_end == j) return false;
    j = skip_ws(s, name_end);
    return j < s.size() && s[j] == '=';
}

// The closing quote of the string whose opening quote is at pos, or npos.
std::size_t closing_quote(std::string_view s, std::size_t pos) {
    const char quote = s[pos];
    for (std::size_t i = find_either_byte(s, quote, '\\', pos + 1); i != npos;
         i = find_either_byte(s, quote, '\\', i + 1)) {
        if (s[i] == '\\')
            ++i;  // the escaped byte is never the closing quote
        else if (quote_closes(s, i))
            return i;
    }
    return npos;
}

// The matching close of the bracket at pos ((x,y) or [x1, y1, x2, y2], any nesting), or npos.
std::size_t closing_bracket(std::string_view s, std::size_t pos) {
    int depth = 0;
    for (std::size_t i = pos; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '(' || c == '[')
            ++depth;
        else if ((c == ')' || c == ']') && --depth == 0)
            return i;
    }
    return npos;
}

}  // namespace

// A missing final ')' at the very end is accepted (truncated output; the Python parser appends
// it too).
std::size_t scan_python_call(std::string_view s, std::size_t base, std::size_t pos,
                             RawResponse& out, Failure* failure) {
    auto fail = [&](std::string problem, std::size_t at) {
        *failure = {std::move(problem), base + at, std::string(s.substr(at, 60))};
        return npos;
    };
    pos = skip_ws(s, pos);
    const std::size_t start = pos;
    const std::size_t name_end = scan_ident(s, pos);
    if (name_end == pos)
        return fail("expected an action call such as click(start_box='(100,200)')", pos);
    const std::string_view name = s.substr(pos, name_end - pos);
    pos = skip_blanks(s, name_end);
    if (pos >= s.size() || s[pos] != '(')
        return fail("expected '(' after the action name '" + std::string(name) + "'", pos);
    ++pos;
    const auto first_argument = static_cast<std::uint32_t>(out.arguments.size());
    for (;;) {
        pos = skip_ws(s, pos);
        if (pos >= s.size()) break;  // truncated before ')'
        if (s[pos] == ')') {
            ++pos;
            break;
        }
        const std::size_t arg_start = pos;
        const std::size_t arg_name_end = scan_ident(s, pos);
        if (arg_name_end == pos)
            return fail("expected an argument name or ')' in " + std::string(name) + "(…)", pos);
        const std::string_view written = s.substr(pos, arg_name_end - pos);
        const std::string_view arg_name = canonical_argument(written);
        pos = skip_ws(s, arg_name_end);
        if (pos >= s.size() || s[pos] != '=')
            return fail("expected '=' after the argument name '" + std::string(written) + "'", pos);
        pos = skip_ws(s, pos + 1);
        if (pos >= s.size())
            return fail("missing value for argument '" + std::string(arg_name) + "'", arg_start);
        std::string_view value;
        bool python_string = false;
        const char c = s[pos];
        if (c == '\'' || c == '"') {
            const std::size_t close = closing_quote(s, pos);
            if (close == npos)
                return fail("unterminated string in argument '" + std::string(arg_name) + "'", pos);
            value = s.substr(pos + 1, close - pos - 1);
            python_string = true;
            pos = close + 1;
        } else if (c == '(' || c == '[') {
            // Unquoted coordinates: (x,y) or [x1, y1, x2, y2].
            const std::size_t close = closing_bracket(s, pos);
            if (close == npos)
                return fail("unbalanced brackets in argument '" + std::string(arg_name) + "'", pos);
            value = s.substr(pos, close + 1 - pos);
            pos = close + 1;
        } else {
            // A bare token: a number, a word, or unquoted <point>x y</point>.
            std::size_t i = pos;
            while (i < s.size() && s[i] != ',' && s[i] != ')' && s[i] != '\n') ++i;
            value = trim(s.substr(pos, i - pos));
            pos = i;
        }
        // Filled in place, field by field (see SmallVector::emplace_back).
        RawArgument& argument = out.arguments.emplace_back();
        argument.name = arg_name;
        argument.value = value;
        argument.position = base + arg_start;
        argument.python_string = python_string;
        pos = skip_ws(s, pos);
        if (pos >= s.size()) break;
        if (s[pos] == ',') {
            ++pos;
            continue;
        }
        if (s[pos] == ')') continue;
        return fail("expected ',' or ')' after argument '" + std::string(arg_name) + "'", pos);
    }
    RawCall& call = out.calls.emplace_back();
    call.name = name;
    call.text = s.substr(start, pos - start);
    call.position = base + start;
    call.first_argument = first_argument;
    call.argument_count = static_cast<std::uint32_t>(out.arguments.size() - first_argument);
    return pos;
}

}  // namespace deskpilot::planner::detail
