// The layouts around the calls: <think>, the o1 and seed forms, the labels before "Action:" and
// which "Action:" marker wins. Hand-written scanning, not regular expressions: nothing backtracks
// beyond a bounded look-ahead, so hostile input (fuzzed) costs at most
// kMaxActionMarkers × its length.
#include "planner/response_grammar.h"

#include "planner/grammar_detail.h"
#include "planner/parse_error.h"
#include "planner/python_string.h"

namespace deskpilot::planner {

using namespace detail;

namespace {

// Whether an identifier, optional blanks and '(' start at pos: the text looks like a call.
bool looks_like_call(std::string_view s, std::size_t pos) {
    pos = skip_ws(s, pos);
    const std::size_t end = scan_ident(s, pos);
    if (end == pos) return false;
    const std::size_t paren = skip_blanks(s, end);
    return paren < s.size() && s[paren] == '(';
}

// Calls separated by whitespace (a blank line in practice), from pos, which looks like a call.
// Stops before text that does not look like a call; returns the offset after the last call.
// A call that looks like one but is malformed fails the block: npos, with *failed_index the
// 0-based index of that call and *failure why.
std::size_t scan_block(std::string_view s, std::size_t base, std::size_t pos, RawResponse& out,
                       Failure* failure, int* failed_index) {
    const std::size_t first_call = out.calls.size();
    do {
        pos = scan_python_call(s, base, pos, out, failure);
        if (pos == npos) {
            *failed_index = static_cast<int>(out.calls.size() - first_call);
            return npos;
        }
    } while (looks_like_call(s, pos));
    return pos;
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
        if (summary == npos) {
            out.reflection = trim(head.substr(n));
        } else {
            out.reflection = trim(head.substr(n, summary - n));
            out.thought = trim(head.substr(summary + label_at(head, summary, "Action_Summary")));
        }
        return;
    }
    if (const std::size_t n = label_at(head, 0, "Action_Summary"); n > 0) {
        out.thought = trim(head.substr(n));
        return;
    }
    // The first "Thought:" anywhere in the head; usually the head starts with it.
    std::size_t pos = label_at(head, 0, "Thought") > 0 ? 0 : find_label(head, "Thought");
    if (pos != npos) out.thought = trim(head.substr(pos + label_at(head, pos, "Thought")));
}

struct Marker {
    std::size_t pos;
    std::size_t length;  // 0: no marker
};

// The next "Action:" / "Action：" at or after `from`, not preceded by an identifier character
// (so not "Action_Summary:", not "NoAction:").
Marker next_marker(std::string_view s, std::size_t from) {
    for (std::size_t pos = find(s, "Action", from); pos != npos; pos = find(s, "Action", pos + 1)) {
        if (pos > 0 && chars::is_ident_char(s[pos - 1])) continue;
        if (const std::size_t n = label_at(s, pos, "Action"); n > 0) return {pos, n};
    }
    return {s.size(), 0};
}

// The region `s` (at offset `base` of the response) with Action markers; fills the thought
// fields and the calls. `o1`: the region after </Thought>, whose head may hold Action_Summary.
void parse_marked(std::string_view s, std::size_t base, RawResponse& out, bool o1) {
    Failure failure;
    int failed_index = 0;
    const Marker first = next_marker(s, 0);
    if (first.length == 0) {
        if (o1)
            throw ParseError("the o1 layout has no 'Action:' after </Thought>", base,
                             s.substr(0, 60));
        // A bare call (grounding answers), no prefix at all.
        if (!looks_like_call(s, 0))
            throw ParseError("no 'Action:' in the response and it is not a bare call", base,
                             s.substr(0, 60));
        if (scan_block(s, base, 0, out, &failure, &failed_index) == npos)
            throw_failure(failure, failed_index, failed_index + 1);
        return;
    }

    // Markers inside a string of an earlier, well-formed block are text, not markers; of the
    // rest, the last one followed by a call wins. `out` always holds the last block scanned.
    std::size_t skip_until = 0;
    std::size_t first_candidate = npos;
    bool chosen = false, failed = false;
    std::size_t tried = 0;
    Marker last = first;
    for (Marker m = first; m.length > 0; m = next_marker(s, m.pos + m.length)) {
        if (++tried > kMaxActionMarkers)
            throw ParseError(
                "too many 'Action:' markers (more than " + std::to_string(kMaxActionMarkers) + ")",
                base + m.pos, s.substr(m.pos, 60));
        last = m;
        if (m.pos < skip_until) continue;
        const std::size_t after = m.pos + m.length;
        if (!looks_like_call(s, after)) continue;
        if (first_candidate == npos) first_candidate = m.pos;
        out.calls.clear();
        out.arguments.clear();
        const std::size_t end = scan_block(s, base, after, out, &failure, &failed_index);
        failed = end == npos;
        chosen = !failed;
        if (chosen) skip_until = end;
    }
    if (failed) throw_failure(failure, failed_index, failed_index + 1);
    if (!chosen)
        throw ParseError("'Action:' is not followed by an action call", base + last.pos,
                         s.substr(last.pos, 60));
    const std::string_view head = s.substr(0, first_candidate);
    if (!o1) {
        parse_head(head, out);
    } else if (const std::size_t pos = find_label(head, "Action_Summary"); pos != npos) {
        out.summary = trim(head.substr(pos + label_at(head, pos, "Action_Summary")));
    }
}

}  // namespace

std::string RawArgument::text() const {
    return python_string ? unescape_python(value) : std::string(value);
}

void parse_response_grammar(std::string_view response, RawResponse& out) {
    // Work on the trimmed text but report offsets in the response as received.
    std::string_view s = strip_end_tokens(response);
    std::size_t base = static_cast<std::size_t>(s.data() - response.data());
    if (s.empty()) throw ParseError("the response is empty", 0, response.substr(0, 60));
    if (response.size() > kMaxResponseBytes)
        throw ParseError("the response is " + std::to_string(response.size()) +
                             " bytes, more than " + std::to_string(kMaxResponseBytes),
                         0, response.substr(0, 60));

    if (s.starts_with("<think>")) {
        const std::size_t close = find(s, "</think>");
        if (close == npos)
            throw ParseError("<think> is never closed by </think>", base, s.substr(0, 60));
        out.reasoning = trim(s.substr(7, close - 7));
        const std::string_view rest = trim(s.substr(close + 8));
        base += static_cast<std::size_t>(rest.data() - s.data());
        s = rest;
        if (s.empty()) throw ParseError("nothing follows the </think> block", base, "");
    }

    // One pass over the '<'s finds the first of the two layout tags.
    std::size_t seed = npos, open = npos;
    for (std::size_t lt = find_byte(s, '<'); lt != npos; lt = find_byte(s, '<', lt + 1)) {
        if (starts_with(s, lt, "<seed:tool_call>")) {
            seed = lt;
            break;
        }
        if (open == npos && starts_with(s, lt, "<Thought>")) open = lt;
    }
    if (seed != npos) return parse_seed_tool_calls(s, base, seed, out);

    if (open != npos) {
        const std::size_t close = find(s, "</Thought>", open);
        if (close == npos)
            throw ParseError("<Thought> is never closed by </Thought>", base + open,
                             s.substr(open, 60));
        out.thought = trim(s.substr(open + 9, close - open - 9));
        const std::size_t region = close + 10;
        std::size_t region_end = find(s, "</Output>", region);
        if (region_end == npos) region_end = s.size();
        return parse_marked(s.substr(region, region_end - region), base + region, out, true);
    }

    parse_marked(s, base, out, false);
}

}  // namespace deskpilot::planner
