// Timing a cancel from another thread, for the engine suites' "generate() returns within 100 ms
// of a cancel" checks.
//
// One attempt is not a fair measure on a loaded machine: under ctest -j2 on two cores another
// suite can deschedule the process for tens of ms once (CI saw 118 ms from an engine whose
// cancel otherwise answers in a few ms). A step that cannot be interrupted is slow on every
// attempt (the old per-layer checks took 370–900 ms each time), so the best of three still fails
// an engine that does not check often enough.
#pragma once

#include <QtGlobal>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

#include "model/engine/native_vlm.h"

namespace deskpilot::test {

struct Cancelled {
    model::Response response;
    double after_cancel_ms = 0;  // from cancel() to generate() returning
};

// Runs `request` on `vlm` and cancels it from another thread `delay_ms` after the start.
inline Cancelled cancel_after(model::NativeVlm& vlm, const planner::Request& request,
                              const model::GenerateOptions& options, int delay_ms) {
    using Clock = std::chrono::steady_clock;
    model::CancelToken cancel;
    Clock::time_point cancelled_at{};
    std::thread canceller([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
        cancelled_at = Clock::now();
        cancel.cancel();
    });
    Cancelled c;
    c.response = vlm.generate(request, options, {}, cancel);
    const auto returned = Clock::now();
    canceller.join();
    c.after_cancel_ms = std::chrono::duration<double, std::milli>(returned - cancelled_at).count();
    return c;
}

// Runs `request` on `vlm` and cancels it from another thread `delay_ms` after its first streamed
// text, so the cancel lands in the decode loop however long the prefill took (a fixed delay from
// the start landed in the prefill when a loaded machine made it slow). If generate() returns
// before any text, nothing is cancelled and after_cancel_ms stays 0.
inline Cancelled cancel_while_decoding(model::NativeVlm& vlm, const planner::Request& request,
                                       const model::GenerateOptions& options, int delay_ms) {
    using Clock = std::chrono::steady_clock;
    model::CancelToken cancel;
    std::mutex m;
    std::condition_variable changed;
    bool streaming = false, returned = false;
    Clock::time_point cancelled_at{};
    std::thread canceller([&] {
        std::unique_lock lock(m);
        changed.wait(lock, [&] { return streaming || returned; });
        if (returned) return;
        if (changed.wait_for(lock, std::chrono::milliseconds(delay_ms), [&] { return returned; }))
            return;
        cancelled_at = Clock::now();
        cancel.cancel();
    });
    const auto on_text = [&](std::string_view) {
        const std::lock_guard lock(m);
        if (!streaming) changed.notify_all();
        streaming = true;
    };
    Cancelled c;
    c.response = vlm.generate(request, options, on_text, cancel);
    const auto end = Clock::now();
    {
        const std::lock_guard lock(m);
        returned = true;
    }
    changed.notify_all();
    canceller.join();
    if (cancelled_at != Clock::time_point{})
        c.after_cancel_ms = std::chrono::duration<double, std::milli>(end - cancelled_at).count();
    return c;
}

// `attempt` repeated (up to three times in all) while it was not cancelled or its return took
// `budget_ms` or longer; the best attempt: a cancelled one before one that finished before its
// cancel fired (which measures nothing), then the fastest.
inline Cancelled cancel_within(const std::function<Cancelled()>& attempt, double budget_ms = 100) {
    const auto rank = [](const Cancelled& c) {
        return std::pair{c.response.finish_reason != "cancelled", c.after_cancel_ms};
    };
    Cancelled best = attempt();
    for (int n = 2; n <= 3 && rank(best) >= std::pair{false, budget_ms}; ++n) {
        qInfo("attempt %d: %s, %.1f ms after the cancel; again", n - 1,
              best.response.finish_reason.c_str(), best.after_cancel_ms);
        Cancelled again = attempt();
        if (rank(again) < rank(best)) best = std::move(again);
    }
    return best;
}

}  // namespace deskpilot::test
