// What a run reports to its observers (the CLI printer, the Qt panel, tests). Observers are
// called on the agent's thread; the panel forwards each call to the GUI thread itself.
#pragma once

#include <string>
#include <string_view>

#include "agent/session.h"
#include "planner/action.h"
#include "planner/step.h"
#include "vision/frame.h"

namespace deskpilot::agent {

enum class RunStatus { finished, call_user, max_steps, stopped, error };

std::string_view to_string(RunStatus status);
// The exit status of `deskpilot run`: 0 finished, 4 call_user unanswered, 5 max steps,
// 6 stopped, 1 error.
int exit_code(RunStatus status);

struct ApprovalRequest {
    int step = 0;
    int action_index = 0;
    planner::Action action;
    std::string reason;  // why a person must decide
};

struct ApprovalDecision {
    enum class Kind { approve, edit, reject };
    Kind kind = Kind::approve;
    planner::Action edited;  // for edit: the corrected action
    std::string feedback;    // for reject: sent to the model as the next user turn
};

class AgentObserver {
  public:
    virtual ~AgentObserver() = default;
    virtual void on_run_started(const Manifest&, const std::filesystem::path& /*session_dir*/) {}
    virtual void on_screenshot(int /*step*/, const vision::Frame&) {}
    virtual void on_model_text(int /*step*/, std::string_view /*chunk*/) {}
    virtual void on_step_parsed(int /*step*/, const planner::Step&) {}
    virtual void on_action_pending(const ApprovalRequest&) {}
    virtual void on_action_executed(int /*step*/, int /*index*/, const planner::Action&,
                                    const std::string& /*result*/) {}
    virtual void on_step_recorded(const StepRecord&) {}
    virtual void on_call_user(int /*step*/, const std::string& /*question*/) {}
    virtual void on_paused() {}
    virtual void on_resumed() {}
    virtual void on_warning(const std::string&) {}
    virtual void on_error(const std::string&) {}
    virtual void on_run_finished(RunStatus, const std::string& /*message*/) {}
};

}  // namespace deskpilot::agent
