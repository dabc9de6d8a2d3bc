// Milliseconds on the monotonic clock, as every step timing in a session is recorded.
#pragma once

#include <chrono>

namespace deskpilot::agent {

using Clock = std::chrono::steady_clock;

inline double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace deskpilot::agent
