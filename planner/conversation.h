// planner::Conversation: the history of one task, turned into the model-agnostic Request every
// backend consumes. Like UI-TARS-desktop: the system prompt with the instruction opens the
// conversation; only the last N screenshots travel (default 5), older ones are dropped while
// the assistant's turns stay; an assistant turn is sent back with its Reflection stripped;
// user turns carry feedback on a rejected action and replies to call_user.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "planner/family.h"
#include "planner/prompt.h"
#include "planner/request.h"

namespace deskpilot::planner {

struct ConversationOptions {
    std::size_t max_screenshots = 5;
    // Sent as the system message (the Qwen-VL default the models were trained with); the UI-TARS
    // prompt itself goes in the first user turn, as the official deployments send it.
    std::string system_message = "You are a helpful assistant.";
    PromptOptions prompt;
};

// "Reflection: …\nAction_Summary: s\nAction: a" → "Action_Summary: s\nAction: a"; other text
// unchanged.
std::string strip_reflection(std::string_view response);

class Conversation {
  public:
    // Throws PromptError when the prompt options do not fit the family's template.
    Conversation(const ModelFamily& family, std::string instruction,
                 ConversationOptions options = {});

    void add_screenshot(std::shared_ptr<const vision::Frame> frame);
    // The model's response as received; its Reflection is stripped for the history.
    void add_assistant(std::string_view response);
    // Feedback on a rejected action, or the person's reply to call_user.
    void add_user(std::string text);

    Request build() const;

    const std::string& system_prompt() const { return prompt_; }
    std::size_t screenshot_count() const { return screenshots_; }

  private:
    struct Entry {
        Role role;
        std::string text;
        std::shared_ptr<const vision::Frame> frame;
    };
    const ModelFamily* family_;
    ConversationOptions options_;
    std::string prompt_;
    std::vector<Entry> entries_;
    std::size_t screenshots_ = 0;
};

}  // namespace deskpilot::planner
