#include "planner/coordinates.h"

#include <charconv>
#include <cmath>
#include <vector>

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
    // Drop the markup tokens; what remains must be numbers and separators.
    std::string text;
    text.reserve(value.size());
    for (std::size_t i = 0; i < value.size();) {
        bool skipped = false;
        for (std::string_view tag :
             {"<|box_start|>", "<|box_end|>", "<point>", "</point>", "<bbox>", "</bbox>"}) {
            if (value.substr(i).starts_with(tag)) {
                text += ' ';
                i += tag.size();
                skipped = true;
                break;
            }
        }
        if (!skipped) text += value[i++];
    }
    std::vector<double> numbers;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && is_separator(text[i])) ++i;
        if (i >= text.size()) break;
        std::size_t j = i;
        while (j < text.size() && !is_separator(text[j])) ++j;
        const std::string_view token(text.data() + i, j - i);
        if (!is_plain_number(token)) {
            if (problem) *problem = "'" + std::string(token.substr(0, 40)) + "' is not a number";
            return std::nullopt;
        }
        if (numbers.size() == 4) {
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
        numbers.push_back(number);
        i = j;
    }
    if (numbers.size() == 2) return ModelPoint{numbers[0], numbers[1]};
    if (numbers.size() == 4)
        return ModelPoint{(numbers[0] + numbers[2]) / 2, (numbers[1] + numbers[3]) / 2};
    if (problem)
        *problem = "expected 2 numbers (x,y) or 4 (a box), found " + std::to_string(numbers.size());
    return std::nullopt;
}

}  // namespace deskpilot::planner
