// When to try a failed request again and how long to wait first.
#pragma once

#include <chrono>
#include <optional>
#include <random>
#include <string_view>

namespace deskpilot::model::remote {

struct RetryPolicy {
    int max_retries = 3;                                // attempts after the first
    std::chrono::milliseconds base_delay{500};          // first backoff, doubled each retry
    std::chrono::milliseconds max_delay{30000};         // cap for one backoff
    std::chrono::milliseconds max_retry_after{120000};  // longer Retry-After values end the call
};

// The wait before retry number `retry` (0 for the first retry): base·2^retry capped at max_delay,
// with "equal jitter" (uniform in [d/2, d]) so that many clients do not retry in lockstep.
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry, std::mt19937_64& rng);

// A Retry-After header value: delta-seconds ("3", "1.5" tolerated) or an HTTP date. nullopt when
// it is neither.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value);

}  // namespace deskpilot::model::remote
