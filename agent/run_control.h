// agent::RunControl: the thread-safe handle a person (CLI, panel, hotkey) uses to steer a run:
// pause, resume, step, stop, approve / edit / reject a pending action, reply to call_user.
// Every call only sets state and wakes the loop; stop() additionally waits for an action that
// is being sent at that moment to finish, so that no action runs after stop() returns.
#pragma once

#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>

#include "agent/events.h"
#include "model/vlm.h"

namespace deskpilot::agent {

class RunControl {
  public:
    void pause();
    void resume();
    // Runs exactly one more step, then pauses.
    void step();
    void stop();
    void decide(const ApprovalDecision& decision);
    void reply(const std::string& text);

    bool stop_requested() const;
    bool paused() const;

    // --- used by the loop ---
    model::CancelToken& cancel_token() { return cancel_; }
    // Blocks while paused; returns false when stopped. Consumes a step() permit.
    bool wait_until_runnable();
    // Called at the end of each step: a step() permit turns into a pause here.
    void step_done();
    // Waits for decide() (or stop); nullopt when stopped.
    std::optional<ApprovalDecision> wait_for_decision();
    // Waits for reply() (or stop); nullopt when stopped.
    std::optional<std::string> wait_for_reply();
    // Held while an action's input is being sent; stop() takes it too.
    std::mutex& action_mutex() { return action_mutex_; }
    void reset();

  private:
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool stopped_ = false;
    bool paused_ = false;
    bool single_step_ = false;
    std::optional<ApprovalDecision> decision_;
    std::optional<std::string> reply_;
    model::CancelToken cancel_;
    std::mutex action_mutex_;
};

}  // namespace deskpilot::agent
