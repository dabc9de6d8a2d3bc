// The chat layout of Qwen-VL models (<|im_start|>role\n … <|im_end|>\n, images as
// <|vision_start|><|image_pad|><|vision_end|>), written out in C++ so no template engine is
// needed at run time. Equal to transformers' apply_chat_template with each family's template
// for the conversations the planner builds (text and images; no tools) — see
// tests/model/engine/test_chat_format.cpp and tools/golden/chat_format_golden.py.
#pragma once

#include <string>
#include <vector>

#include "planner/request.h"

namespace deskpilot::model::engine {

enum class ChatTemplate {
    // Qwen2-VL / Qwen2.5-VL / UI-TARS-1.5: a default system turn ("You are a helpful
    // assistant.") when the conversation does not start with one; images in any role.
    qwen2_vl,
    // Qwen3-VL: no default system turn; images only in user turns; a system turn is only
    // honoured as the first message.
    qwen3_vl,
};

struct ChatOptions {
    bool add_generation_prompt = true;
    bool add_vision_id = false;  // "Picture N: " before each image
    // How many <|image_pad|> tokens each image expands to, in order (the merged patch count
    // the processor computes). Empty: one per image, as apply_chat_template writes it.
    std::vector<int> image_tokens;
};

// Throws std::invalid_argument if image_tokens is given and does not match the images.
std::string format_chat(ChatTemplate tmpl, const std::vector<planner::Message>& messages,
                        const ChatOptions& options = {});

}  // namespace deskpilot::model::engine
