// Internals of the response grammar shared by its files (response_grammar.cpp, python_call.cpp,
// seed_tool_call.cpp): byte-level scanning helpers on string_views. Not part of the planner API.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "planner/char_class.h"
#include "planner/response_grammar.h"

namespace deskpilot::planner::detail {

inline constexpr std::size_t npos = std::string_view::npos;
inline constexpr std::string_view kFullWidthColon = "\xEF\xBC\x9A";  // ：

inline std::string_view trim(std::string_view s) {
    while (!s.empty() && chars::is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && chars::is_space(s.back())) s.remove_suffix(1);
    return s;
}

inline std::size_t skip_ws(std::string_view s, std::size_t pos) {
    while (pos < s.size() && chars::is_space(s[pos])) ++pos;
    return pos;
}

inline std::size_t skip_blanks(std::string_view s, std::size_t pos) {
    while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t')) ++pos;
    return pos;
}

// The end of the identifier at pos (pos itself when none starts there).
inline std::size_t scan_ident(std::string_view s, std::size_t pos) {
    if (pos >= s.size() || !chars::is_ident_start(s[pos])) return pos;
    ++pos;
    while (pos < s.size() && chars::is_ident_char(s[pos])) ++pos;
    return pos;
}

// Whether s has `prefix` at pos (pos may be past the end).
inline bool starts_with(std::string_view s, std::size_t pos, std::string_view prefix) {
    return pos <= s.size() && s.size() - pos >= prefix.size() &&
           std::memcmp(s.data() + pos, prefix.data(), prefix.size()) == 0;
}

// The first c in s at or after from, or npos: 16 bytes at a time with SSE2, inline. The texts
// searched here are short (a response is ~100 bytes), where memchr's call and set-up cost more
// than the scan itself.
inline std::size_t find_byte(std::string_view s, char c, std::size_t from = 0) {
#if defined(__SSE2__)
    const __m128i needle = _mm_set1_epi8(c);
    while (from + 16 <= s.size()) {
        const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + from));
        const auto mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(block, needle)));
        if (mask != 0) return from + static_cast<std::size_t>(__builtin_ctz(mask));
        from += 16;
    }
    // The last 1-15 bytes: one block ending at the end of s, its bytes before `from` shifted out
    // (a byte loop here costs a mispredicted exit on every search).
    if (from < s.size() && s.size() >= 16) {
        const std::size_t last = s.size() - 16;
        const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + last));
        const auto mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(block, needle))) >>
                          (from - last);
        return mask != 0 ? from + static_cast<std::size_t>(__builtin_ctz(mask)) : npos;
    }
#endif
    for (; from < s.size(); ++from)
        if (s[from] == c) return from;
    return npos;
}

// The first a or b in s at or after from, or npos (from may be past the end): find_byte for
// either of two bytes, e.g. a string's quote or a backslash.
inline std::size_t find_either_byte(std::string_view s, char a, char b, std::size_t from) {
#if defined(__SSE2__)
    const __m128i needle_a = _mm_set1_epi8(a), needle_b = _mm_set1_epi8(b);
    while (from + 16 <= s.size()) {
        const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + from));
        const auto mask = static_cast<unsigned>(_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(block, needle_a), _mm_cmpeq_epi8(block, needle_b))));
        if (mask != 0) return from + static_cast<std::size_t>(__builtin_ctz(mask));
        from += 16;
    }
    if (from < s.size() && s.size() >= 16) {  // the last bytes, as in find_byte
        const std::size_t last = s.size() - 16;
        const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + last));
        const auto mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(
                              _mm_cmpeq_epi8(block, needle_a), _mm_cmpeq_epi8(block, needle_b)))) >>
                          (from - last);
        return mask != 0 ? from + static_cast<std::size_t>(__builtin_ctz(mask)) : npos;
    }
#endif
    for (; from < s.size(); ++from)
        if (s[from] == a || s[from] == b) return from;
    return npos;
}

// s.find(word, from), looking for the first byte with find_byte (string_view::find compares byte
// by byte).
inline std::size_t find(std::string_view s, std::string_view word, std::size_t from = 0) {
    while (from < s.size()) {
        const std::size_t pos = find_byte(s, word[0], from);
        if (pos == npos) return npos;
        if (starts_with(s, pos, word)) return pos;
        from = pos + 1;
    }
    return npos;
}

// A label such as "Thought" followed by ':' or the full-width '：'; returns the length matched.
inline std::size_t label_at(std::string_view s, std::size_t pos, std::string_view label) {
    if (!starts_with(s, pos, label)) return 0;
    const std::size_t after = pos + label.size();
    if (after < s.size() && s[after] == ':') return label.size() + 1;
    if (starts_with(s, after, kFullWidthColon)) return label.size() + kFullWidthColon.size();
    return 0;
}

inline std::size_t find_label(std::string_view s, std::string_view label, std::size_t from = 0) {
    for (std::size_t pos = find(s, label, from); pos != npos; pos = find(s, label, pos + 1))
        if (label_at(s, pos, label) > 0) return pos;
    return npos;
}

inline std::string_view canonical_argument(std::string_view name) {
    if (name == "point" || name == "start_point") return "start_box";
    if (name == "end_point") return "end_box";
    return name;
}

// Why a call did not scan: thrown as a ParseError by the caller, which knows the action's index.
struct Failure {
    std::string problem;
    std::size_t position = 0;  // offset in the response
    std::string offending;
};

// Scans one Python-style call `name(arg=value, …)` at pos in `s` (which starts at offset `base`
// of the response), appending it and its arguments to `out`. Returns the offset after it, or
// npos with *failure filled.
std::size_t scan_python_call(std::string_view s, std::size_t base, std::size_t pos,
                             RawResponse& out, Failure* failure);

// <seed:tool_call><function=NAME><parameter=ARG>VALUE</parameter>…</function>…</seed:tool_call>
// starting at first_block; the text before it is the thought.
void parse_seed_tool_calls(std::string_view s, std::size_t base, std::size_t first_block,
                           RawResponse& out);

}  // namespace deskpilot::planner::detail
