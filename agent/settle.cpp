#include "agent/settle.h"
#include "agent/timing.h"

#include <thread>

namespace deskpilot::agent {

namespace {

// Sleeps up to `duration` in short slices so that a stop request is noticed quickly.
bool sleep_unless_stopped(std::chrono::milliseconds duration, const ShouldStop& should_stop) {
    const auto until = Clock::now() + duration;
    while (Clock::now() < until) {
        if (should_stop && should_stop()) return false;
        std::this_thread::sleep_for(
            std::min<Clock::duration>(std::chrono::milliseconds(10), until - Clock::now()));
    }
    return !(should_stop && should_stop());
}

}  // namespace

SettleResult wait_until_settled(vision::ScreenSource& screen, const SettleOptions& options,
                                const ShouldStop& should_stop, const OnQuietStart& on_quiet_start) {
    SettleResult result;
    const auto start = Clock::now();
    vision::Frame previous = screen.capture();
    result.captures = 1;
    result.quiet_frame = previous;
    bool announced = false;  // on_quiet_start told about quiet_frame
    auto quiet_since = Clock::now();
    while (true) {
        if (!sleep_unless_stopped(options.poll, should_stop)) {
            result.cancelled = true;
            break;
        }
        vision::Frame current = screen.capture();
        ++result.captures;
        if (vision::changed_fraction(previous, current) > options.threshold) {
            quiet_since = Clock::now();
            result.quiet_frame = current;
            announced = false;
        } else if (!announced && on_quiet_start) {
            on_quiet_start(result.quiet_frame);
            announced = true;
        }
        previous = std::move(current);
        if (Clock::now() - quiet_since >= options.quiet) {
            result.settled = true;
            break;
        }
        if (Clock::now() - start >= options.max) break;
    }
    result.elapsed_ms = ms_since(start);
    result.last = std::move(previous);
    return result;
}

SettleResult wait_for_change(vision::ScreenSource& screen, const vision::Frame& baseline,
                             std::chrono::milliseconds timeout, double threshold,
                             const ShouldStop& should_stop) {
    SettleResult result;
    const auto start = Clock::now();
    while (true) {
        vision::Frame current = screen.capture();
        ++result.captures;
        const bool changed = vision::changed_fraction(baseline, current) > threshold;
        result.last = std::move(current);
        if (changed) {
            result.settled = true;
            break;
        }
        if (Clock::now() - start >= timeout) break;
        if (!sleep_unless_stopped(std::chrono::milliseconds(50), should_stop)) {
            result.cancelled = true;
            break;
        }
    }
    result.elapsed_ms = ms_since(start);
    return result;
}

}  // namespace deskpilot::agent
