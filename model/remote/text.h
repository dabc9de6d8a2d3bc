// Small text helpers shared by the HTTP layer and the client (header names, server messages).
#pragma once

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

namespace deskpilot::model::remote {

inline std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    return out;
}

inline std::string trim(std::string_view s) {
    const auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return {};
    const auto last = s.find_last_not_of(" \t\r\n");
    return std::string(s.substr(first, last - first + 1));
}

}  // namespace deskpilot::model::remote
