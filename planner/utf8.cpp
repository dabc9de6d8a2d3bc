#include "planner/utf8.h"

namespace deskpilot::planner::utf8 {

namespace {

// For a lead byte: the sequence length and the allowed range of the second byte (later
// continuation bytes are always 0x80..0xBF). Length 0 marks a byte that cannot start one.
struct Lead {
    int length;
    unsigned char lo, hi;
};

Lead lead_of(unsigned char b) {
    if (b < 0x80) return {1, 0, 0};
    if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
    if (b == 0xE0) return {3, 0xA0, 0xBF};
    if (b == 0xED) return {3, 0x80, 0x9F};  // no surrogates
    if (b >= 0xE1 && b <= 0xEF) return {3, 0x80, 0xBF};
    if (b == 0xF0) return {4, 0x90, 0xBF};
    if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
    if (b == 0xF4) return {4, 0x80, 0x8F};
    return {0, 0, 0};
}

// Length of the valid prefix of a sequence starting at s[i] (1..length), and whether it is
// complete.
int scan(std::string_view s, std::size_t i, bool& complete) {
    const Lead l = lead_of(static_cast<unsigned char>(s[i]));
    complete = false;
    if (l.length == 0) return 0;
    if (l.length == 1) {
        complete = true;
        return 1;
    }
    int k = 1;
    for (; k < l.length; ++k) {
        if (i + std::size_t(k) >= s.size()) return k;  // ran out of input: truncated
        const auto c = static_cast<unsigned char>(s[i + std::size_t(k)]);
        const unsigned char lo = k == 1 ? l.lo : 0x80, hi = k == 1 ? l.hi : 0xBF;
        if (c < lo || c > hi) return k;
    }
    complete = true;
    return k;
}

}  // namespace

std::size_t first_invalid(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        bool complete;
        const int n = scan(s, i, complete);
        if (!complete) return i;
        i += std::size_t(n);
    }
    return std::string_view::npos;
}

std::size_t append_lossy(std::string& out, std::string_view s, bool keep_incomplete_tail) {
    std::size_t i = 0;
    while (i < s.size()) {
        bool complete;
        const int n = scan(s, i, complete);
        if (complete) {
            out.append(s.substr(i, std::size_t(n)));
            i += std::size_t(n);
            continue;
        }
        if (keep_incomplete_tail && n > 0 && i + std::size_t(n) == s.size()) return std::size_t(n);
        out += "\xEF\xBF\xBD";
        i += std::size_t(n > 0 ? n : 1);
    }
    return 0;
}

void append_code_point(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    } else {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    }
}

}  // namespace deskpilot::planner::utf8
