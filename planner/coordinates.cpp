#include "planner/coordinates.h"

#include <charconv>
#include <cmath>
#include <cstdint>

#include "planner/char_class.h"

namespace deskpilot::planner {

namespace {

bool is_separator(char c) {
    return chars::is(c, chars::kCoordinateSeparator);
}

enum class Number { ok, not_a_number, unusable };

// A plain decimal: optional sign, digits with at most one '.'; no exponent, inf or nan. The value
// is what std::from_chars gives (correctly rounded): for up to 15 digits the mantissa and the
// power of ten are exact doubles, so one IEEE division rounds the exact quotient correctly
// (Clinger's fast path); longer numbers go through std::from_chars.
Number parse_plain_number(std::string_view token, double* value) {
    static constexpr double kPow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                        1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    std::size_t i = (token.starts_with('-') || token.starts_with('+')) ? 1 : 0;
    std::uint64_t mantissa = 0;
    int digits = 0, fraction = 0;
    bool dot = false;
    for (; i < token.size(); ++i) {
        const char c = token[i];
        if (c >= '0' && c <= '9') {
            if (digits < 19) mantissa = mantissa * 10 + static_cast<std::uint64_t>(c - '0');
            ++digits;
            fraction += dot;
        } else if (c == '.' && !dot) {
            dot = true;
        } else {
            return Number::not_a_number;
        }
    }
    if (digits == 0) return Number::not_a_number;
    if (digits <= 15) {
        const double magnitude = static_cast<double>(mantissa) / kPow10[fraction];
        *value = token.starts_with('-') ? -magnitude : magnitude;
        return Number::ok;
    }
    const std::string_view text = token.starts_with('+') ? token.substr(1) : token;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
    if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(*value))
        return Number::unusable;
    return Number::ok;
}

}  // namespace

std::optional<ModelPoint> parse_model_point(std::string_view value, std::string* problem) {
    // Markup tokens count as separators; what remains must be numbers and separators.
    static constexpr std::string_view kTags[] = {"<|box_start|>", "<|box_end|>", "<point>",
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
        double number = 0;
        const Number parsed = parse_plain_number(token, &number);
        if (parsed == Number::not_a_number) {
            if (problem) *problem = "'" + std::string(token.substr(0, 40)) + "' is not a number";
            return std::nullopt;
        }
        if (count == 4) {
            if (problem) *problem = "more than 4 numbers";
            return std::nullopt;
        }
        if (parsed == Number::unusable) {
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
