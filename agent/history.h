// agent::History: the conversation of one run as the model sees it — the task prompt, the last
// N screenshots, the model's earlier answers (Reflection stripped, as UI-TARS-desktop does) and
// the user's turns (feedback on rejected actions, replies to call_user).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "planner/request.h"

namespace deskpilot::agent {

struct HistoryOptions {
    std::string task;
    std::string family;
    std::string language = "en";
    int max_screenshots = 5;
};

class History {
public:
    explicit History(HistoryOptions options);

    void add_screenshot(std::shared_ptr<const vision::Frame> frame);
    void add_assistant(const std::string& response);
    void add_user_text(const std::string& text);

    // The request for the next model call.
    planner::Request request() const;

private:
    struct Turn {
        planner::Role role;
        std::string text;
        std::shared_ptr<const vision::Frame> image;
    };
    HistoryOptions options_;
    std::vector<Turn> turns_;
};

}  // namespace deskpilot::agent
