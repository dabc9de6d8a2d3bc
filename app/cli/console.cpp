#include "cli/console.h"

#include <signal.h>

#include <cstdio>
#include <iostream>
#include <sstream>

namespace deskpilot::cli {

namespace {

std::atomic<bool> g_stop_signal{false};

void on_signal(int) {
    g_stop_signal.store(true);
}

std::string action_text(const planner::Action& a) {
    return to_json(a).dump();
}

}  // namespace

void ConsoleObserver::on_run_started(const agent::Manifest& m, const std::filesystem::path& dir) {
    std::printf("deskpilot: %s\n  session %s\n", m.task.c_str(), dir.c_str());
    std::fflush(stdout);
}

void ConsoleObserver::on_model_text(int step, std::string_view chunk) {
    if (!streaming_) {
        std::printf("\nstep %d\n  ", step);
        streaming_ = true;
    }
    // The thought as it streams, indented.
    for (char c : chunk) {
        std::fputc(c, stdout);
        if (c == '\n') std::fputs("  ", stdout);
    }
    std::fflush(stdout);
}

void ConsoleObserver::on_step_parsed(int step, const planner::Step& s) {
    if (!streaming_)
        std::printf("\nstep %d\n  Thought: %s\n", step, s.thought.c_str());
    else
        std::printf("\n");
    streaming_ = false;
}

void ConsoleObserver::on_action_pending(const agent::ApprovalRequest& r) {
    std::lock_guard lock(mutex_);
    questions_.push_back({r, "approve " + action_text(r.action) + " (" + r.reason + ")"});
    changed_.notify_all();
}

void ConsoleObserver::on_action_executed(int, int, const planner::Action& a,
                                         const std::string& result) {
    std::printf("  -> %s %s\n", action_text(a).c_str(), result.c_str());
    std::fflush(stdout);
}

void ConsoleObserver::on_step_recorded(const agent::StepRecord& s) {
    if (streaming_) std::printf("\n");
    streaming_ = false;
    std::printf("  [capture %.0f ms, model %.0f ms, act %.0f ms, settle %.0f ms, tokens %d/%d]\n",
                s.capture_ms, s.model_ms, s.act_ms, s.settle_ms, s.prompt_tokens,
                s.completion_tokens);
    std::fflush(stdout);
}

void ConsoleObserver::on_call_user(int, const std::string& question) {
    std::lock_guard lock(mutex_);
    questions_.push_back({std::nullopt, question});
    changed_.notify_all();
}

void ConsoleObserver::on_warning(const std::string& w) {
    std::fprintf(stderr, "deskpilot: warning: %s\n", w.c_str());
}

void ConsoleObserver::on_error(const std::string& e) {
    std::fprintf(stderr, "deskpilot: error: %s\n", e.c_str());
}

void ConsoleObserver::on_run_finished(agent::RunStatus s, const std::string& m) {
    std::printf("\ndeskpilot: %s%s%s\n", std::string(agent::to_string(s)).c_str(),
                m.empty() ? "" : ": ", m.c_str());
    std::fflush(stdout);
    std::lock_guard lock(mutex_);
    finished_ = true;
    changed_.notify_all();
}

std::optional<ConsoleObserver::Question> ConsoleObserver::next_question() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return finished_ || !questions_.empty(); });
    if (questions_.empty()) return std::nullopt;
    Question q = std::move(questions_.front());
    questions_.pop_front();
    return q;
}

std::atomic<bool>& install_stop_signals() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a blocked read of the terminal returns at once
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    return g_stop_signal;
}

void answer_from_terminal(ConsoleObserver& console, agent::RunControl& control) {
    while (auto q = console.next_question()) {
        std::string line;
        if (q->approval) {
            std::printf("  %s\n  [y] approve, [n FEEDBACK] reject, [e X Y] run it at X,Y instead: ",
                        q->text.c_str());
        } else {
            std::printf("  the model asks: %s\n  your reply: ", q->text.c_str());
        }
        std::fflush(stdout);
        if (!std::getline(std::cin, line)) {  // EOF or Ctrl+C: nobody is there to answer
            control.stop();
            continue;
        }
        if (!q->approval) {
            control.reply(line);
            continue;
        }
        std::istringstream words(line);
        std::string verb;
        words >> verb;
        if (verb == "e" || verb == "edit") {
            int x = 0, y = 0;
            if (words >> x >> y) {
                planner::Action edited = q->approval->action;
                edited.point = vision::Point{x, y};
                control.decide({agent::ApprovalDecision::Kind::edit, edited, {}});
                continue;
            }
            std::printf("  (e needs two numbers; rejecting)\n");
            control.decide(
                {agent::ApprovalDecision::Kind::reject, {}, "The user rejected that action."});
        } else if (verb == "n" || verb == "no" || verb == "r" || verb == "reject") {
            std::string feedback;
            std::getline(words >> std::ws, feedback);
            control.decide({agent::ApprovalDecision::Kind::reject, {}, feedback});
        } else {
            control.decide({agent::ApprovalDecision::Kind::approve});
        }
    }
}

}  // namespace deskpilot::cli
