#include "model/engine/chat_format.h"

#include <stdexcept>

namespace deskpilot::model::engine {

namespace {

class Writer {
  public:
    Writer(const ChatOptions& o) : options_(o) {}

    void text_parts(const planner::Message& m) {
        for (const auto& p : m.parts)
            if (p.kind == planner::ContentPart::Kind::text) out += p.text;
    }

    void all_parts(const planner::Message& m) {
        for (const auto& p : m.parts) {
            if (p.kind == planner::ContentPart::Kind::text) {
                out += p.text;
                continue;
            }
            ++images_;
            if (options_.add_vision_id) out += "Picture " + std::to_string(images_) + ": ";
            int pads = 1;
            if (!options_.image_tokens.empty()) {
                if (std::size_t(images_) > options_.image_tokens.size())
                    throw std::invalid_argument(
                        "format_chat: more images than image_tokens entries");
                pads = options_.image_tokens[std::size_t(images_ - 1)];
                if (pads < 1)
                    throw std::invalid_argument(
                        "format_chat: image_tokens entries must be positive");
            }
            out += "<|vision_start|>";
            for (int i = 0; i < pads; ++i) out += "<|image_pad|>";
            out += "<|vision_end|>";
        }
    }

    void finish() {
        if (!options_.image_tokens.empty() && std::size_t(images_) != options_.image_tokens.size())
            throw std::invalid_argument(
                "format_chat: " + std::to_string(options_.image_tokens.size()) +
                " image_tokens entries for " + std::to_string(images_) + " images");
        if (options_.add_generation_prompt) out += "<|im_start|>assistant\n";
    }

    std::string out;

  private:
    const ChatOptions& options_;
    int images_ = 0;
};

}  // namespace

std::string format_chat(ChatTemplate tmpl, const std::vector<planner::Message>& messages,
                        const ChatOptions& options) {
    Writer w(options);
    if (tmpl == ChatTemplate::qwen2_vl) {
        for (std::size_t i = 0; i < messages.size(); ++i) {
            const auto& m = messages[i];
            if (i == 0 && m.role != planner::Role::system)
                w.out += "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n";
            w.out += "<|im_start|>";
            w.out += planner::to_string(m.role);
            w.out += "\n";
            w.all_parts(m);
            w.out += "<|im_end|>\n";
        }
    } else {
        if (!messages.empty() && messages[0].role == planner::Role::system) {
            w.out += "<|im_start|>system\n";
            w.text_parts(messages[0]);
            w.out += "<|im_end|>\n";
        }
        for (const auto& m : messages) {
            if (m.role == planner::Role::user) {
                w.out += "<|im_start|>user\n";
                w.all_parts(m);
                w.out += "<|im_end|>\n";
            } else if (m.role == planner::Role::assistant) {
                w.out += "<|im_start|>assistant\n";
                w.text_parts(m);  // the template renders only the text of assistant turns
                w.out += "<|im_end|>\n";
            }
            // System turns other than the first are dropped, as the template drops them.
        }
    }
    w.finish();
    return w.out;
}

}  // namespace deskpilot::model::engine
