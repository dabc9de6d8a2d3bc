#include "agent/history.h"

#include <algorithm>

namespace deskpilot::agent {

namespace {

// "Reflection: …" lines are dropped from earlier answers, as UI-TARS-desktop does: the model
// should not re-read its old self-criticism as if it were current.
std::string strip_reflection(const std::string& response) {
    const auto at = response.find("Reflection:");
    if (at == std::string::npos) return response;
    const auto next = response.find("Action_Summary:", at);
    if (next == std::string::npos) return response;
    return response.substr(0, at) + response.substr(next);
}

}  // namespace

History::History(HistoryOptions options) : options_(std::move(options)) {}

void History::add_screenshot(std::shared_ptr<const vision::Frame> frame) {
    turns_.push_back({planner::Role::user, {}, std::move(frame)});
}

void History::add_assistant(const std::string& response) {
    turns_.push_back({planner::Role::assistant, strip_reflection(response), nullptr});
}

void History::add_user_text(const std::string& text) { turns_.push_back({planner::Role::user, text, nullptr}); }

planner::Request History::request() const {
    planner::Request request;
    request.family = options_.family;
    planner::Message first{planner::Role::user, {}};
    first.parts.push_back(planner::ContentPart::of_text(
        "You are a GUI agent. You are given a task and your action history, with screenshots. You need to perform "
        "the next action to complete the task.\n\n## Output Format\n```\nThought: ...\nAction: ...\n```\n\n"
        "## User Instruction\n" + options_.task + "\n"));
    request.messages.push_back(std::move(first));

    // Only the newest `max_screenshots` images are sent; older screenshot turns are dropped.
    const long images = std::count_if(turns_.begin(), turns_.end(), [](const Turn& t) { return t.image != nullptr; });
    long skip = std::max(0L, images - options_.max_screenshots);
    for (const Turn& turn : turns_) {
        if (turn.image) {
            if (skip > 0) {
                --skip;
                continue;
            }
            request.messages.push_back({planner::Role::user, {planner::ContentPart::of_image(turn.image)}});
        } else {
            request.messages.push_back({turn.role, {planner::ContentPart::of_text(turn.text)}});
        }
    }
    return request;
}

}  // namespace deskpilot::agent
