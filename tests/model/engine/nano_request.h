// The grounding request the agent sends for one instruction on one screenshot
// (planner::Conversation, PromptKind::grounding): what tools/train_nano/nano_golden.py asks
// transformers, shared by the deskpilot-nano checkpoint tests.
#pragma once

#include <memory>
#include <string>

#include "planner/conversation.h"
#include "planner/family.h"
#include "vision/frame.h"

namespace deskpilot::testing {

inline planner::Request nano_grounding_request(const planner::ModelFamily& family,
                                               const std::string& instruction,
                                               std::shared_ptr<const vision::Frame> screen) {
    planner::ConversationOptions options;
    options.prompt.kind = planner::PromptKind::grounding;
    planner::Conversation conversation(family, instruction, options);
    conversation.add_screenshot(std::move(screen));
    return conversation.build();
}

}  // namespace deskpilot::testing
