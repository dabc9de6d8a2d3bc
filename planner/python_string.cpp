#include "planner/python_string.h"

#include <cstdint>

namespace deskpilot::planner {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = 0xFFFD;  // not encodable: replacement char
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// Reads exactly `digits` hex digits at body[i]; returns -1 if they are not all there.
long long read_hex(std::string_view body, std::size_t i, int digits) {
    if (i + static_cast<std::size_t>(digits) > body.size()) return -1;
    long long value = 0;
    for (int k = 0; k < digits; ++k) {
        const int h = hex_value(body[i + static_cast<std::size_t>(k)]);
        if (h < 0) return -1;
        value = value * 16 + h;
    }
    return value;
}

}  // namespace

std::string unescape_python(std::string_view body) {
    if (body.find('\\') == std::string_view::npos) return std::string(body);
    std::string out;
    out.reserve(body.size());
    for (std::size_t i = 0; i < body.size(); ++i) {
        const char c = body[i];
        if (c != '\\') {
            // Copy the run up to the next backslash at once.
            std::size_t end = body.find('\\', i);
            if (end == std::string_view::npos) end = body.size();
            out.append(body.data() + i, end - i);
            i = end - 1;
            continue;
        }
        if (i + 1 >= body.size()) {
            out += c;
            continue;
        }
        const char e = body[i + 1];
        switch (e) {
            case '\\':
                out += '\\';
                ++i;
                continue;
            case '\'':
                out += '\'';
                ++i;
                continue;
            case '"':
                out += '"';
                ++i;
                continue;
            case 'n':
                out += '\n';
                ++i;
                continue;
            case 't':
                out += '\t';
                ++i;
                continue;
            case 'r':
                out += '\r';
                ++i;
                continue;
            case 'a':
                out += '\a';
                ++i;
                continue;
            case 'b':
                out += '\b';
                ++i;
                continue;
            case 'f':
                out += '\f';
                ++i;
                continue;
            case 'v':
                out += '\v';
                ++i;
                continue;
            case '\n':
                ++i;
                continue;  // line continuation
            default:
                break;
        }
        if (e >= '0' && e <= '7') {
            std::uint32_t value = 0;
            std::size_t j = i + 1;
            for (int k = 0; k < 3 && j < body.size() && body[j] >= '0' && body[j] <= '7'; ++k, ++j)
                value = value * 8 + static_cast<std::uint32_t>(body[j] - '0');
            append_utf8(out, value);
            i = j - 1;
            continue;
        }
        const int digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
        if (digits > 0) {
            const long long value = read_hex(body, i + 2, digits);
            if (value >= 0) {
                append_utf8(out, static_cast<std::uint32_t>(value > 0x10FFFF ? 0xFFFD : value));
                i += 1 + static_cast<std::size_t>(digits);
                continue;
            }
        }
        out += c;  // unknown or malformed escape: keep the backslash, like Python
    }
    return out;
}

}  // namespace deskpilot::planner
