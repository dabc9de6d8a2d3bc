#include "model/remote/retry.h"

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <string>

namespace deskpilot::model::remote {

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry,
                                        std::mt19937_64& rng) {
    const double base = static_cast<double>(policy.base_delay.count());
    const double cap = static_cast<double>(policy.max_delay.count());
    const double full = std::min(cap, base * std::ldexp(1.0, std::clamp(retry, 0, 30)));
    std::uniform_real_distribution<double> jitter(full / 2, full);
    return std::chrono::milliseconds(static_cast<long long>(std::llround(jitter(rng))));
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value) {
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (value.empty()) return std::nullopt;
    if (std::isdigit(static_cast<unsigned char>(value.front()))) {
        double seconds = 0;
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
        if (ec != std::errc() || end != value.data() + value.size() || !(seconds >= 0) ||
            seconds > 1e7)
            return std::nullopt;
        return std::chrono::milliseconds(static_cast<long long>(std::llround(seconds * 1000)));
    }
    const std::string text(value);
    const time_t when = curl_getdate(text.c_str(), nullptr);
    if (when == -1) return std::nullopt;
    const double seconds = std::difftime(when, std::time(nullptr));
    return std::chrono::milliseconds(static_cast<long long>(std::max(0.0, seconds) * 1000));
}

}  // namespace deskpilot::model::remote
