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

// A plain decimal as std::from_chars reads it (correctly rounded), from the text of one that
// was already checked: optional sign, digits with at most one '.'. For up to 15 digits the
// mantissa and the power of ten are exact doubles, so one IEEE division rounds the exact quotient
// correctly (Clinger's fast path); longer numbers go through std::from_chars, which may find them
// out of range.
bool decimal_value(std::string_view token, std::uint64_t mantissa, int digits, int fraction,
                   double* value) {
    static constexpr double kPow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                        1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    if (digits <= 15) {
        // An integer needs no division (x / 1e0 == x), and most coordinates are integers.
        const double magnitude = fraction == 0 ? static_cast<double>(mantissa)
                                               : static_cast<double>(mantissa) / kPow10[fraction];
        *value = token.starts_with('-') ? -magnitude : magnitude;
        return true;
    }
    const std::string_view text = token.starts_with('+') ? token.substr(1) : token;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
    return ec == std::errc() && ptr == text.data() + text.size() && std::isfinite(*value);
}

}  // namespace

std::optional<ModelPoint> parse_model_point(std::string_view value, std::string* problem) {
    ModelPoint point;
    if (!parse_model_point(value, &point, problem)) return std::nullopt;
    return point;
}

bool parse_model_point(std::string_view value, ModelPoint* point, std::string* problem) {
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
        // A token runs to the next separator or '<'. It must be a plain decimal: optional sign,
        // digits with at most one '.' (no exponent, inf or nan); read its digits on the way.
        std::size_t j = i + ((value[i] == '-' || value[i] == '+') ? 1 : 0);
        std::uint64_t mantissa = 0;
        int digits = 0, fraction = 0;
        bool dot = false;
        for (; j < n; ++j) {
            const char c = value[j];
            if (c >= '0' && c <= '9') {
                if (digits < 19) mantissa = mantissa * 10 + static_cast<std::uint64_t>(c - '0');
                ++digits;
                fraction += dot;
            } else if (c == '.' && !dot) {
                dot = true;
            } else {
                break;
            }
        }
        if (digits == 0 || (j < n && !is_separator(value[j]) && value[j] != '<')) {
            while (j < n && !is_separator(value[j]) && value[j] != '<') ++j;
            if (j == i) j = i + 1;  // a lone '<' that starts no tag
            if (problem)
                *problem =
                    "'" + std::string(value.substr(i, j - i).substr(0, 40)) + "' is not a number";
            return false;
        }
        const std::string_view token = value.substr(i, j - i);
        if (count == 4) {
            if (problem) *problem = "more than 4 numbers";
            return false;
        }
        if (!decimal_value(token, mantissa, digits, fraction, &numbers[count])) {
            if (problem)
                *problem = "'" + std::string(token.substr(0, 40)) + "' is not a usable number";
            return false;
        }
        ++count;
        i = j;
    }
    if (count == 2) {
        point->x = numbers[0];
        point->y = numbers[1];
        return true;
    }
    if (count == 4) {
        point->x = (numbers[0] + numbers[2]) / 2;
        point->y = (numbers[1] + numbers[3]) / 2;
        return true;
    }
    if (problem) *problem = "expected 2 numbers (x,y) or 4 (a box), found " + std::to_string(count);
    return false;
}

}  // namespace deskpilot::planner
