// A hand-written scanner, not regular expressions: every loop advances, nothing backtracks
// beyond a bounded look-ahead, so hostile input (fuzzed) costs at most
// kMaxActionMarkers × its length.
#include "planner/response_grammar.h"

#include <array>
#include <optional>

#include "planner/parse_error.h"
#include "planner/python_string.h"

namespace deskpilot::planner {

namespace {

constexpr std::string_view kFullWidthColon = "\xEF\xBC\x9A";  // ：

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_ident_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_ident_char(char c) {
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

// Compares the first byte inline before calling memcmp: most candidates fail on it.
bool starts_with(std::string_view s, std::size_t pos, std::string_view prefix) {
    if (pos >= s.size() || prefix.empty()) return pos <= s.size() && prefix.empty();
    return s[pos] == prefix[0] && s.size() - pos >= prefix.size() &&
           s.compare(pos, prefix.size(), prefix) == 0;
}

// A label such as "Thought" followed by ':' or the full-width '：'; returns the length matched.
std::size_t label_at(std::string_view s, std::size_t pos, std::string_view label) {
    if (!starts_with(s, pos, label)) return 0;
    const std::size_t after = pos + label.size();
    if (after < s.size() && s[after] == ':') return label.size() + 1;
    if (starts_with(s, after, kFullWidthColon)) return label.size() + kFullWidthColon.size();
    return 0;
}

std::size_t find_label(std::string_view s, std::string_view label, std::size_t from = 0) {
    for (std::size_t pos = s.find(label, from); pos != std::string_view::npos;
         pos = s.find(label, pos + 1))
        if (label_at(s, pos, label) > 0) return pos;
    return std::string_view::npos;
}

// Text scanned by the call scanner; `base` is the offset of `text` inside the whole response.
struct Source {
    std::string_view text;
    std::size_t base = 0;
    std::pmr::memory_resource* memory = std::pmr::get_default_resource();
};

struct Failure {
    std::string problem;
    std::size_t position = 0;  // offset in the response
    std::string offending;
};

struct CallResult {
    bool ok = false;
    std::size_t end = 0;
    Failure failure;
};

std::size_t skip_ws(std::string_view s, std::size_t pos) {
    while (pos < s.size() && is_space(s[pos])) ++pos;
    return pos;
}

std::size_t skip_blanks(std::string_view s, std::size_t pos) {
    while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t')) ++pos;
    return pos;
}

std::size_t scan_ident(std::string_view s, std::size_t pos) {
    if (pos >= s.size() || !is_ident_start(s[pos])) return pos;
    while (pos < s.size() && is_ident_char(s[pos])) ++pos;
    return pos;
}

// Whether an identifier, optional blanks and '(' start at pos: the text looks like a call.
bool looks_like_call(std::string_view s, std::size_t pos) {
    pos = skip_ws(s, pos);
    const std::size_t end = scan_ident(s, pos);
    if (end == pos) return false;
    const std::size_t paren = skip_blanks(s, end);
    return paren < s.size() && s[paren] == '(';
}

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

std::string_view canonical_argument(std::string_view name) {
    if (name == "point" || name == "start_point") return "start_box";
    if (name == "end_point") return "end_box";
    return name;
}

// Scans one call `name(arg=value, …)` at pos. A missing final ')' at the very end is accepted
// (truncated output; the Python parser appends it too).
// Fills `call` (the caller's slot, so a call is built in place, not moved around).
CallResult scan_call(const Source& src, std::size_t pos, RawCall& call) {
    const std::string_view s = src.text;
    CallResult result;
    auto fail = [&](std::string problem, std::size_t at) {
        result.failure = {std::move(problem), src.base + at, std::string(s.substr(at, 60))};
        return result;
    };
    pos = skip_ws(s, pos);
    const std::size_t start = pos;
    const std::size_t name_end = scan_ident(s, pos);
    if (name_end == pos)
        return fail("expected an action call such as click(start_box='(100,200)')", pos);
    call.name = s.substr(pos, name_end - pos);
    call.position = src.base + start;
    pos = skip_blanks(s, name_end);
    if (pos >= s.size() || s[pos] != '(')
        return fail("expected '(' after the action name '" + std::string(call.name) + "'", pos);
    ++pos;
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
            return fail("expected an argument name or ')' in " + std::string(call.name) + "(…)",
                        pos);
        RawArgument argument;
        argument.name = canonical_argument(s.substr(pos, arg_name_end - pos));
        argument.position = src.base + arg_start;
        pos = skip_ws(s, arg_name_end);
        if (pos >= s.size() || s[pos] != '=')
            return fail("expected '=' after the argument name '" +
                            std::string(s.substr(arg_start, arg_name_end - arg_start)) + "'",
                        pos);
        pos = skip_ws(s, pos + 1);
        if (pos >= s.size())
            return fail("missing value for argument '" + std::string(argument.name) + "'",
                        arg_start);
        const char c = s[pos];
        if (c == '\'' || c == '"') {
            std::size_t i = pos + 1;
            bool closed = false;
            while (i < s.size()) {
                if (s[i] == '\\') {
                    i += 2;
                    continue;
                }
                if (s[i] == c && quote_closes(s, i)) {
                    closed = true;
                    break;
                }
                ++i;
            }
            if (!closed)
                return fail("unterminated string in argument '" + std::string(argument.name) + "'",
                            pos);
            argument.value = s.substr(pos + 1, i - pos - 1);
            argument.python_string = true;
            pos = i + 1;
        } else if (c == '(' || c == '[') {
            // Unquoted coordinates: (x,y) or [x1, y1, x2, y2].
            int depth = 0;
            std::size_t i = pos;
            for (; i < s.size(); ++i) {
                if (s[i] == '(' || s[i] == '[')
                    ++depth;
                else if (s[i] == ')' || s[i] == ']') {
                    if (--depth == 0) break;
                }
            }
            if (i >= s.size())
                return fail("unbalanced brackets in argument '" + std::string(argument.name) + "'",
                            pos);
            argument.value = s.substr(pos, i + 1 - pos);
            pos = i + 1;
        } else {
            // A bare token: a number, a word, or unquoted <point>x y</point>.
            std::size_t i = pos;
            while (i < s.size() && s[i] != ',' && s[i] != ')' && s[i] != '\n') ++i;
            argument.value = trim(s.substr(pos, i - pos));
            pos = i;
        }
        if (call.arguments.empty()) call.arguments.reserve(4);
        call.arguments.push_back(std::move(argument));
        pos = skip_ws(s, pos);
        if (pos >= s.size()) break;
        if (s[pos] == ',') {
            ++pos;
            continue;
        }
        if (s[pos] == ')') continue;
        return fail(
            "expected ',' or ')' after argument '" + std::string(call.arguments.back().name) + "'",
            pos);
    }
    call.text = std::string_view(s.substr(start, pos - start));
    result.ok = true;
    result.end = pos;
    return result;
}

struct BlockResult {
    explicit BlockResult(std::pmr::memory_resource* memory) : calls(memory) {}
    std::pmr::vector<RawCall> calls;
    std::size_t end = 0;  // after the last call
    std::optional<Failure> failure;
    int failed_index = 0;
};

// Calls separated by whitespace (a blank line in practice). Stops before text that does not look
// like a call; a call that looks like one but is malformed fails the block.
BlockResult scan_block(const Source& src, std::size_t pos) {
    BlockResult block(src.memory);
    block.end = pos;
    for (;;) {
        pos = skip_ws(src.text, pos);
        if (pos >= src.text.size() || !looks_like_call(src.text, pos)) {
            if (block.calls.empty() && !block.failure) {
                RawCall scratch;
                block.failure =
                    scan_call(src, pos, scratch).failure;  // the message for "not a call"
            }
            return block;
        }
        if (block.calls.empty()) block.calls.reserve(2);
        CallResult r = scan_call(src, pos, block.calls.emplace_back());
        if (!r.ok) {
            block.calls.pop_back();
            block.failure = std::move(r.failure);
            block.failed_index = static_cast<int>(block.calls.size());
            return block;
        }
        pos = block.end = r.end;
    }
}

[[noreturn]] void throw_failure(const Failure& f, int index, int count) {
    throw ParseError(f.problem, f.position, f.offending, index, count);
}

// Strips end-of-turn tokens some servers leave in the text.
std::string_view strip_end_tokens(std::string_view s) {
    for (bool again = true; again;) {
        again = false;
        s = trim(s);
        if (s.empty() || (s.back() != '>' && s.back() != ']')) break;
        for (std::string_view token : {"<|im_end|>", "<|endoftext|>", "[EOS]", "</s>"}) {
            if (s.ends_with(token)) {
                s.remove_suffix(token.size());
                again = true;
            }
        }
    }
    return s;
}

// The head before the action: Reflection / Action_Summary / Thought labels.
void parse_head(std::string_view head, RawResponse& out) {
    head = trim(head);
    if (const std::size_t n = label_at(head, 0, "Reflection"); n > 0) {
        const std::size_t summary = find_label(head, "Action_Summary");
        if (summary == std::string_view::npos) {
            out.reflection = std::string(trim(head.substr(n)));
        } else {
            out.reflection = std::string(trim(head.substr(n, summary - n)));
            out.thought =
                std::string(trim(head.substr(summary + label_at(head, summary, "Action_Summary"))));
        }
        return;
    }
    if (const std::size_t n = label_at(head, 0, "Action_Summary"); n > 0) {
        out.thought = std::string(trim(head.substr(n)));
        return;
    }
    if (const std::size_t pos = find_label(head, "Thought"); pos != std::string_view::npos)
        out.thought = std::string(trim(head.substr(pos + label_at(head, pos, "Thought"))));
}

struct Marker {
    std::size_t pos;
    std::size_t length;
};

// "Action:" / "Action：" not preceded by an identifier character (so not "Action_Summary:", not
// "NoAction:").
// The next "Action:" / "Action：" at or after `from`, not preceded by an identifier character
// (so not "Action_Summary:", not "NoAction:"); length 0 when there is none.
Marker next_marker(std::string_view s, std::size_t from) {
    for (std::size_t pos = s.find("Action", from); pos != std::string_view::npos;
         pos = s.find("Action", pos + 1)) {
        if (pos > 0 && is_ident_char(s[pos - 1])) continue;
        if (const std::size_t n = label_at(s, pos, "Action"); n > 0) return {pos, n};
    }
    return {s.size(), 0};
}

// Text of a region [0, end) with Action markers; fills thought fields and calls.
void parse_marked(const Source& src, RawResponse& out, bool o1) {
    const std::string_view s = src.text;
    const Marker first = next_marker(s, 0);
    if (first.length == 0) {
        if (o1)
            throw ParseError("the o1 layout has no 'Action:' after </Thought>", src.base,
                             s.substr(0, 60));
        // A bare call (grounding answers), no prefix at all.
        if (!looks_like_call(s, 0))
            throw ParseError("no 'Action:' in the response and it is not a bare call", src.base,
                             s.substr(0, 60));
        BlockResult block = scan_block(src, 0);
        if (block.failure)
            throw_failure(*block.failure, block.failed_index, block.failed_index + 1);
        out.calls = std::move(block.calls);
        return;
    }

    // Markers inside a string of an earlier, well-formed block are text, not markers; of the
    // rest, the last one followed by a call wins.
    std::size_t skip_until = 0;
    std::optional<std::size_t> first_candidate;
    std::optional<BlockResult> chosen;
    std::optional<Marker> failed_last;
    BlockResult failed_block(src.memory);
    std::size_t tried = 0;
    Marker last = first;
    for (Marker m = first; m.length > 0; m = next_marker(s, m.pos + m.length)) {
        if (++tried > kMaxActionMarkers)
            throw ParseError(
                "too many 'Action:' markers (more than " + std::to_string(kMaxActionMarkers) + ")",
                src.base + m.pos, s.substr(m.pos, 60));
        last = m;
        if (m.pos < skip_until) continue;
        const std::size_t after = m.pos + m.length;
        if (!looks_like_call(s, after)) continue;
        if (!first_candidate) first_candidate = m.pos;
        BlockResult block = scan_block(src, after);
        if (block.failure) {
            failed_last = m;
            failed_block = std::move(block);
            chosen.reset();
            continue;
        }
        skip_until = block.end;
        failed_last.reset();
        chosen = std::move(block);
    }
    if (failed_last) {
        const int count = static_cast<int>(failed_block.calls.size()) + 1;
        throw_failure(*failed_block.failure, failed_block.failed_index, count);
    }
    if (!chosen) {
        throw ParseError("'Action:' is not followed by an action call", src.base + last.pos,
                         s.substr(last.pos, 60));
    }
    const std::string_view head = s.substr(0, *first_candidate);
    if (o1) {
        if (const std::size_t pos = find_label(head, "Action_Summary");
            pos != std::string_view::npos)
            out.summary =
                std::string(trim(head.substr(pos + label_at(head, pos, "Action_Summary"))));
    } else {
        parse_head(head, out);
    }
    out.calls = std::move(chosen->calls);
}

// <seed:tool_call><function=NAME><parameter=ARG>VALUE</parameter>…</function>…</seed:tool_call>
void parse_seed(std::string_view s, std::size_t base, std::size_t first_block, RawResponse& out) {
    constexpr std::string_view kOpen = "<seed:tool_call>";
    constexpr std::string_view kClose = "</seed:tool_call>";
    std::string_view head = trim(s.substr(0, first_block));
    if (const std::size_t n = label_at(head, 0, "Thought"); n > 0) head = trim(head.substr(n));
    out.thought = std::string(head);

    for (std::size_t block = first_block; block != std::string_view::npos;
         block = s.find(kOpen, block)) {
        std::size_t pos = block + kOpen.size();
        std::size_t block_end = s.find(kClose, pos);
        const std::size_t next =
            block_end == std::string_view::npos ? block_end : block_end + kClose.size();
        if (block_end == std::string_view::npos) block_end = s.size();  // truncated output
        const std::string_view body = s.substr(0, block_end);
        for (;;) {
            pos = skip_ws(body, pos);
            if (pos >= body.size()) break;
            if (!starts_with(body, pos, "<function="))
                throw ParseError("expected <function=NAME> inside <seed:tool_call>", base + pos,
                                 body.substr(pos, 60));
            const std::size_t call_start = pos;
            const std::size_t name_start = pos + 10;
            const std::size_t name_end = body.find('>', name_start);
            if (name_end == std::string_view::npos)
                throw ParseError("unclosed <function= tag", base + pos, body.substr(pos, 60));
            RawCall call(out.calls.get_allocator());
            call.name = trim(body.substr(name_start, name_end - name_start));
            call.position = base + call_start;
            const std::size_t fn_end = body.find("</function>", name_end);
            if (fn_end == std::string_view::npos)
                throw ParseError("<function=" + std::string(call.name) + "> has no </function>",
                                 base + pos, body.substr(pos, 60));
            std::size_t p = name_end + 1;
            for (;;) {
                p = skip_ws(body, p);
                if (p >= fn_end) break;
                if (!starts_with(body, p, "<parameter="))
                    throw ParseError("expected <parameter=NAME> inside <function=" +
                                         std::string(call.name) + ">",
                                     base + p, body.substr(p, 60));
                const std::size_t arg_name_end = body.find('>', p + 11);
                if (arg_name_end == std::string_view::npos || arg_name_end > fn_end)
                    throw ParseError("unclosed <parameter= tag", base + p, body.substr(p, 60));
                const std::size_t value_end = body.find("</parameter>", arg_name_end);
                if (value_end == std::string_view::npos || value_end > fn_end)
                    throw ParseError("<parameter> has no </parameter>", base + p,
                                     body.substr(p, 60));
                RawArgument argument;
                argument.name =
                    canonical_argument(trim(body.substr(p + 11, arg_name_end - p - 11)));
                argument.value = body.substr(arg_name_end + 1, value_end - arg_name_end - 1);
                argument.position = base + p;
                call.arguments.push_back(std::move(argument));
                p = value_end + 12;
            }
            pos = fn_end + 11;
            call.text = body.substr(call_start, pos - call_start);
            out.calls.push_back(std::move(call));
        }
        if (next == std::string_view::npos) break;
        block = next;
    }
    if (out.calls.empty())
        throw ParseError("<seed:tool_call> holds no <function=…>", base + first_block,
                         s.substr(first_block, 60));
}

}  // namespace

std::string RawArgument::text() const {
    return python_string ? unescape_python(value) : std::string(value);
}

const RawArgument* RawCall::find(std::string_view argument) const {
    for (const RawArgument& a : arguments)
        if (a.name == argument) return &a;
    return nullptr;
}

RawResponse parse_response_grammar(std::string_view response, std::pmr::memory_resource* memory) {
    RawResponse out(memory);
    // Work on the trimmed text but report offsets in the response as received.
    std::string_view s = strip_end_tokens(response);
    std::size_t base = static_cast<std::size_t>(s.data() - response.data());
    if (s.empty()) throw ParseError("the response is empty", 0, response.substr(0, 60));
    if (response.size() > kMaxResponseBytes)
        throw ParseError("the response is " + std::to_string(response.size()) +
                             " bytes, more than " + std::to_string(kMaxResponseBytes),
                         0, response.substr(0, 60));

    if (s.starts_with("<think>")) {
        const std::size_t close = s.find("</think>");
        if (close == std::string_view::npos)
            throw ParseError("<think> is never closed by </think>", base, s.substr(0, 60));
        out.reasoning = std::string(trim(s.substr(7, close - 7)));
        const std::string_view rest = s.substr(close + 8);
        const std::string_view trimmed = trim(rest);
        base += static_cast<std::size_t>(trimmed.data() - s.data());
        s = trimmed;
        if (s.empty()) throw ParseError("nothing follows the </think> block", base, "");
    }

    // One pass over the '<'s finds the first of the two layout tags.
    std::size_t seed = std::string_view::npos, open = std::string_view::npos;
    for (std::size_t lt = s.find('<'); lt != std::string_view::npos; lt = s.find('<', lt + 1)) {
        if (seed == std::string_view::npos && starts_with(s, lt, "<seed:tool_call>"))
            seed = lt;
        else if (open == std::string_view::npos && starts_with(s, lt, "<Thought>"))
            open = lt;
        if (seed != std::string_view::npos) break;
    }
    if (seed != std::string_view::npos) {
        parse_seed(s, base, seed, out);
        return out;
    }

    if (open != std::string_view::npos) {
        const std::size_t close = s.find("</Thought>", open);
        if (close == std::string_view::npos)
            throw ParseError("<Thought> is never closed by </Thought>", base + open,
                             s.substr(open, 60));
        out.thought = std::string(trim(s.substr(open + 9, close - open - 9)));
        const std::size_t region = close + 10;
        std::size_t region_end = s.find("</Output>", region);
        if (region_end == std::string_view::npos) region_end = s.size();
        parse_marked({s.substr(region, region_end - region), base + region, memory}, out, true);
        return out;
    }

    parse_marked({s, base, memory}, out, false);
    return out;
}

}  // namespace deskpilot::planner
