#include "planner/coordinates.h"

#include <charconv>
#include <cmath>

namespace deskpilot::planner {

namespace {

bool is_separator(char c) {
    return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '(' || c == ')' ||
           c == '[' || c == ']';
}

// A plain decimal: optional sign, digits with at most one '.'; no exponent, inf or nan.
bool is_plain_number(std::string_view token) {
    std::size_t i = (token.starts_with('-') || token.starts_with('+')) ? 1 : 0;
    bool digit = false, dot = false;
    for (; i < token.size(); ++i) {
        if (token[i] >= '0' && token[i] <= '9')
            digit = true;
        else if (token[i] == '.' && !dot)
            dot = true;
        else
            return false;
    }
    return digit;
}

}  // namespace

std::optional<ModelPoint> parse_model_point(std::string_view value, std::string* problem) {
    // Markup tokens count as separators; what remains must be numbers and separators.
    constexpr std::string_view kTags[] = {"<|box_start|>", "<|box_end|>", "<point>",
                                          "</point>",      "<bbox>",      "</bbox>"};
    double numbers[4];
    std::size_t count = 0;
    std::size_t i = 0;
    const std::size_t n = value.size();
    while (i < n) {
        if (is_separator(value[i])) {
            ++i;
            continue;
        }
        if (value[i] == '<') {
            bool tag = false;
            for (std::string_view t : kTags)
                if (value.substr(i, t.size()) == t) {
                    i += t.size();
                    tag = true;
                    break;
                }
            if (tag) continue;
        }
        std::size_t j = i;
        while (j < n && !is_separator(value[j]) && value[j] != '<') ++j;
        if (j == i) j = i + 1;  // a lone '<' that starts no tag
        const std::string_view token = value.substr(i, j - i);
        if (!is_plain_number(token)) {
            if (problem) *problem = "'" + std::string(token.substr(0, 40)) + "' is not a number";
            return std::nullopt;
        }
        if (count == 4) {
            if (problem) *problem = "more than 4 numbers";
            return std::nullopt;
        }
        double number = 0;
        const std::string_view digits = token.starts_with('+') ? token.substr(1) : token;
        const auto [ptr, ec] =
            std::from_chars(digits.data(), digits.data() + digits.size(), number);
        if (ec != std::errc() || ptr != digits.data() + digits.size() || !std::isfinite(number)) {
            if (problem)
                *problem = "'" + std::string(token.substr(0, 40)) + "' is not a usable number";
            return std::nullopt;
        }
        numbers[count++] = number;
        i = j;
    }
    if (count == 2) return ModelPoint{numbers[0], numbers[1]};
    if (count == 4) return ModelPoint{(numbers[0] + numbers[2]) / 2, (numbers[1] + numbers[3]) / 2};
    if (problem) *problem = "expected 2 numbers (x,y) or 4 (a box), found " + std::to_string(count);
    return std::nullopt;
}

}  // namespace deskpilot::planner
