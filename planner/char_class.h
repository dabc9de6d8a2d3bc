// Byte classes for the planner's scanners, as one table: the grammar looks at most bytes of a
// response several times, and one table lookup is cheaper than a chain of comparisons.
#pragma once

#include <array>
#include <cstdint>

namespace deskpilot::planner::chars {

enum Class : std::uint8_t {
    kSpace = 1,                 // ' ' \t \n \r \f \v (Python's whitespace in a call)
    kIdentStart = 2,            // a-z A-Z _
    kIdent = 4,                 // a-z A-Z _ 0-9
    kDigit = 8,                 // 0-9
    kCoordinateSeparator = 16,  // between the numbers of a coordinate: , ( ) [ ] ' ' \t \n \r
};

inline constexpr std::array<std::uint8_t, 256> kTable = [] {
    std::array<std::uint8_t, 256> t{};
    for (unsigned char c : {' ', '\t', '\n', '\r', '\f', '\v'}) t[c] |= kSpace;
    for (int c = 'a'; c <= 'z'; ++c) t[c] |= kIdentStart | kIdent;
    for (int c = 'A'; c <= 'Z'; ++c) t[c] |= kIdentStart | kIdent;
    t['_'] |= kIdentStart | kIdent;
    for (int c = '0'; c <= '9'; ++c) t[c] |= kIdent | kDigit;
    for (unsigned char c : {',', '(', ')', '[', ']', ' ', '\t', '\n', '\r'})
        t[c] |= kCoordinateSeparator;
    return t;
}();

inline bool is(char c, Class cls) {
    return (kTable[static_cast<unsigned char>(c)] & cls) != 0;
}
inline bool is_space(char c) {
    return is(c, kSpace);
}
inline bool is_ident_start(char c) {
    return is(c, kIdentStart);
}
inline bool is_ident_char(char c) {
    return is(c, kIdent);
}

}  // namespace deskpilot::planner::chars
