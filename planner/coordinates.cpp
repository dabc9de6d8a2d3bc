#include "planner/coordinates.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "planner/char_class.h"
#include "planner/parse_error.h"

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

// The length of the markup tag at value[i] (a '<'), or 0: <|box_start|> <|box_end|> <point>
// </point> <bbox> </bbox>. Chosen by the byte after '<' and compared at constant sizes (inlined),
// not each tag in turn through memcmp.
std::size_t tag_at(std::string_view value, std::size_t i) {
    const std::string_view rest = value.substr(i);
    auto is = [&](std::string_view tag) {
        return rest.size() >= tag.size() && std::memcmp(rest.data(), tag.data(), tag.size()) == 0;
    };
    if (rest.size() < 2) return 0;
    switch (rest[1]) {
        case '|':
            if (is("<|box_start|>")) return 13;
            if (is("<|box_end|>")) return 11;
            return 0;
        case 'p':
            return is("<point>") ? 7 : 0;
        case 'b':
            return is("<bbox>") ? 6 : 0;
        case '/':
            if (is("</point>")) return 8;
            if (is("</bbox>")) return 7;
            return 0;
        default:
            return 0;
    }
}

// Stores a result on its own. GCC otherwise pairs the x and y stores into one 16-byte copy from
// the stack slots where the numbers were just written one by one: two 8-byte stores read back as
// one 16-byte load, a store-forwarding stall on every coordinate.
inline void store_alone(double* to, double v) {
#if defined(__GNUC__) && defined(__SSE2__)
    asm("" : "+x"(v));
#endif
    *to = v;
}

}  // namespace

std::optional<ModelPoint> parse_model_point(std::string_view value, std::string* problem) {
    ModelPoint point;
    if (!parse_model_point(value, &point, problem)) return std::nullopt;
    return point;
}

bool parse_model_point(std::string_view value, ModelPoint* point, std::string* problem) {
    // Markup tokens count as separators; what remains must be numbers and separators.
    // The numbers in four scalars, not an array: stores into an array read back as one 16-byte
    // load (GCC pairs the two copies into the result) stall on store forwarding.
    double n0 = 0, n1 = 0, n2 = 0, n3 = 0;
    std::size_t count = 0;
    std::size_t i = 0;
    const std::size_t n = value.size();
    while (i < n) {
        if (is_separator(value[i])) {
            ++i;
            continue;
        }
        if (value[i] == '<') {
            if (const std::size_t length = tag_at(value, i); length > 0) {
                i += length;
                continue;
            }
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
            if (problem) *problem = "'" + excerpt(value.substr(i, j - i), 40) + "' is not a number";
            return false;
        }
        const std::string_view token = value.substr(i, j - i);
        if (count == 4) {
            if (problem) *problem = "more than 4 numbers";
            return false;
        }
        double number = 0;
        if (!decimal_value(token, mantissa, digits, fraction, &number)) {
            if (problem) *problem = "'" + excerpt(token, 40) + "' is not a usable number";
            return false;
        }
        switch (count++) {
            case 0:
                n0 = number;
                break;
            case 1:
                n1 = number;
                break;
            case 2:
                n2 = number;
                break;
            default:
                n3 = number;
                break;
        }
        i = j;
    }
    if (count == 2) {
        store_alone(&point->x, n0);
        store_alone(&point->y, n1);
        return true;
    }
    if (count == 4) {
        store_alone(&point->x, (n0 + n2) / 2);
        store_alone(&point->y, (n1 + n3) / 2);
        return true;
    }
    if (problem) *problem = "expected 2 numbers (x,y) or 4 (a box), found " + std::to_string(count);
    return false;
}

}  // namespace deskpilot::planner
