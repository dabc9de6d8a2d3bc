#include "agent/run_control.h"

namespace deskpilot::agent {

std::string_view to_string(RunStatus status) {
    switch (status) {
        case RunStatus::finished:
            return "finished";
        case RunStatus::call_user:
            return "call_user";
        case RunStatus::max_steps:
            return "max_steps";
        case RunStatus::stopped:
            return "stopped";
        case RunStatus::error:
            return "error";
    }
    return "error";
}

int exit_code(RunStatus status) {
    switch (status) {
        case RunStatus::finished:
            return 0;
        case RunStatus::call_user:
            return 4;
        case RunStatus::max_steps:
            return 5;
        case RunStatus::stopped:
            return 6;
        case RunStatus::error:
            return 1;
    }
    return 1;
}

void RunControl::pause() {
    std::lock_guard lock(mutex_);
    paused_ = true;
    single_step_ = false;
}

void RunControl::resume() {
    {
        std::lock_guard lock(mutex_);
        paused_ = false;
        single_step_ = false;
    }
    wake_.notify_all();
}

void RunControl::step() {
    {
        std::lock_guard lock(mutex_);
        paused_ = false;
        single_step_ = true;
    }
    wake_.notify_all();
}

void RunControl::stop() {
    {
        std::lock_guard lock(mutex_);
        stopped_ = true;
    }
    cancel_.cancel();
    wake_.notify_all();
    // Wait out an action whose input is being sent right now; after this, the loop sees the
    // flag before it sends anything else.
    std::lock_guard action(action_mutex_);
}

void RunControl::decide(const ApprovalDecision& decision) {
    {
        std::lock_guard lock(mutex_);
        decision_ = decision;
    }
    wake_.notify_all();
}

void RunControl::reply(const std::string& text) {
    {
        std::lock_guard lock(mutex_);
        reply_ = text;
    }
    wake_.notify_all();
}

bool RunControl::stop_requested() const {
    std::lock_guard lock(mutex_);
    return stopped_;
}

bool RunControl::paused() const {
    std::lock_guard lock(mutex_);
    return paused_;
}

bool RunControl::wait_until_runnable() {
    std::unique_lock lock(mutex_);
    wake_.wait(lock, [&] { return stopped_ || !paused_; });
    return !stopped_;
}

void RunControl::step_done() {
    std::lock_guard lock(mutex_);
    if (single_step_) {
        single_step_ = false;
        paused_ = true;
    }
}

std::optional<ApprovalDecision> RunControl::wait_for_decision() {
    std::unique_lock lock(mutex_);
    wake_.wait(lock, [&] { return stopped_ || decision_.has_value(); });
    if (stopped_) return std::nullopt;
    auto d = std::move(decision_);
    decision_.reset();
    return d;
}

std::optional<std::string> RunControl::wait_for_reply() {
    std::unique_lock lock(mutex_);
    wake_.wait(lock, [&] { return stopped_ || reply_.has_value(); });
    if (stopped_) return std::nullopt;
    auto r = std::move(reply_);
    reply_.reset();
    return r;
}

void RunControl::reset() {
    std::lock_guard lock(mutex_);
    stopped_ = paused_ = single_step_ = false;
    decision_.reset();
    reply_.reset();
    cancel_.reset();
}

}  // namespace deskpilot::agent
