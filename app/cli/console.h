// What `deskpilot run` and `deskpilot replay` print while they work, and how they let a person
// answer from the terminal: an observer that prints each step as it goes and queues questions
// (pending approvals, call_user) for the main thread, which reads the answers from stdin.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "agent/events.h"
#include "agent/run_control.h"

namespace deskpilot::cli {

class ConsoleObserver : public agent::AgentObserver {
  public:
    void on_run_started(const agent::Manifest&, const std::filesystem::path& dir) override;
    void on_model_text(int step, std::string_view chunk) override;
    void on_step_parsed(int step, const planner::Step& s) override;
    void on_action_pending(const agent::ApprovalRequest& r) override;
    void on_action_executed(int step, int index, const planner::Action& a,
                            const std::string& result) override;
    void on_step_recorded(const agent::StepRecord& s) override;
    void on_call_user(int step, const std::string& question) override;
    void on_warning(const std::string& w) override;
    void on_error(const std::string& e) override;
    void on_run_finished(agent::RunStatus s, const std::string& m) override;

    // A question for the person at the terminal.
    struct Question {
        std::optional<agent::ApprovalRequest> approval;  // else: a call_user question
        std::string text;
    };
    // Waits for a question or the end of the run (nullopt).
    std::optional<Question> next_question();

  private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<Question> questions_;
    bool finished_ = false;
    bool streaming_ = false;
};

// Installs SIGINT/SIGTERM handlers that only set a flag; a watcher thread turns the flag into
// control.stop(). Returns the flag so prompts can notice it too.
std::atomic<bool>& install_stop_signals();

// Answers questions from stdin until the run ends: y (approve), n [feedback] (reject),
// e X Y (edit the position), or a call_user reply. EOF stops the run.
void answer_from_terminal(ConsoleObserver& console, agent::RunControl& control);

}  // namespace deskpilot::cli
