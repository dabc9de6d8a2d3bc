// The grounding request the agent sends for one instruction on one screenshot
// (planner::Conversation, PromptKind::grounding): what tools/train_nano/nano_golden.py asks
// transformers, shared by the deskpilot-nano checkpoint tests.
#pragma once

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "model/engine/native_vlm.h"
#include "planner/conversation.h"
#include "planner/family.h"
#include "vision/frame.h"

namespace deskpilot::testing {

// The deskpilot-nano family as the agent asks the checkpoint in `model_dir`
// (NativeVlm::family_as_seen): its deskpilot.json's layout ("screenshot_first") and its pixel
// bounds. The family's own defaults would ask a screenshot-first checkpoint with the text first,
// a prompt it was not trained on and the agent never sends.
inline planner::ModelFamily nano_family_as_seen(const std::filesystem::path& model_dir) {
    const planner::ModelFamily* family = planner::find_family("deskpilot-nano");
    if (!family) throw std::runtime_error("no deskpilot-nano family");
    const model::NativeVlm vlm({.model_dir = model_dir, .max_pixels = 0, .threads = 1});
    return vlm.family_as_seen(*family);
}

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
