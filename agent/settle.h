// Settling: after an action, wait until the screen stops changing instead of sleeping a fixed
// time. The screen is "settled" when consecutive captures differ by less than `threshold` for
// `quiet`, and we give up waiting after `max`.
#pragma once

#include <chrono>
#include <functional>

#include "vision/compare.h"
#include "vision/screen_source.h"

namespace deskpilot::agent {

struct SettleOptions {
    std::chrono::milliseconds quiet{300};
    std::chrono::milliseconds max{5000};
    std::chrono::milliseconds poll{40};
    double threshold = 0.0005;  // fraction of sampled pixels allowed to change
};

struct SettleResult {
    bool settled = false;  // false: still changing at `max`, or cancelled
    bool cancelled = false;
    double elapsed_ms = 0;
    int captures = 0;
    vision::Frame last;  // the last capture
    // The capture that began the final quiet period: the settled screen. It differs from `last`
    // by less than the threshold, and it is the frame on_quiet_start was given.
    vision::Frame quiet_frame;
};

using ShouldStop = std::function<bool()>;

// Called with each capture that starts a quiet period (the screen stopped changing), so that
// work on a likely final screenshot can begin while the quiet period is still being confirmed.
using OnQuietStart = std::function<void(const vision::Frame&)>;

SettleResult wait_until_settled(vision::ScreenSource& screen, const SettleOptions& options,
                                const ShouldStop& should_stop = {},
                                const OnQuietStart& on_quiet_start = {});

// For the wait() action: waits up to `timeout` for the screen to differ from `baseline`.
// `settled` in the result means "a change was seen".
SettleResult wait_for_change(vision::ScreenSource& screen, const vision::Frame& baseline,
                             std::chrono::milliseconds timeout, double threshold,
                             const ShouldStop& should_stop = {});

}  // namespace deskpilot::agent
