#include "planner/conversation.h"

#include <algorithm>
#include <stdexcept>

namespace deskpilot::planner {

namespace {

std::string_view trim_left(std::string_view s) {
    while (!s.empty() &&
           (s.front() == ' ' || s.front() == '\n' || s.front() == '\r' || s.front() == '\t'))
        s.remove_prefix(1);
    return s;
}

}  // namespace

std::string strip_reflection(std::string_view response) {
    const std::string_view text = trim_left(response);
    if (!text.starts_with("Reflection:")) return std::string(response);
    if (const std::size_t summary = text.find("Action_Summary:"); summary != std::string_view::npos)
        return std::string(text.substr(summary));
    // No summary: drop the reflection up to the action.
    if (const std::size_t action = text.find("Action:"); action != std::string_view::npos)
        return std::string(text.substr(action));
    return std::string(response);
}

Conversation::Conversation(const ModelFamily& family, std::string instruction,
                           ConversationOptions options)
    : family_(&family), options_(std::move(options)) {
    prompt_ = render_prompt(family, options_.prompt, instruction);
}

void Conversation::add_screenshot(std::shared_ptr<const vision::Frame> frame) {
    if (!frame || frame->empty())
        throw std::invalid_argument("Conversation::add_screenshot: empty frame");
    entries_.push_back({Role::user, {}, std::move(frame)});
    ++screenshots_;
}

void Conversation::add_assistant(std::string_view response) {
    entries_.push_back({Role::assistant, strip_reflection(response), nullptr});
}

void Conversation::add_user(std::string text) {
    entries_.push_back({Role::user, std::move(text), nullptr});
}

Request Conversation::build() const {
    Request request;
    request.family = std::string(family_->name);
    if (!options_.system_message.empty())
        request.messages.push_back({Role::system, {ContentPart::of_text(options_.system_message)}});
    request.messages.push_back({Role::user, {ContentPart::of_text(prompt_)}});

    // Screenshots older than the last N are left out; everything else keeps its order.
    const std::size_t skip =
        screenshots_ > options_.max_screenshots ? screenshots_ - options_.max_screenshots : 0;
    std::size_t seen = 0;
    for (const Entry& entry : entries_) {
        ContentPart part;
        if (entry.frame) {
            if (seen++ < skip) continue;
            part = ContentPart::of_image(entry.frame);
        } else {
            part = ContentPart::of_text(entry.text);
        }
        // Consecutive user parts (feedback, then the new screenshot) form one user turn.
        if (!request.messages.empty() && request.messages.back().role == entry.role &&
            entry.role == Role::user)
            request.messages.back().parts.push_back(std::move(part));
        else
            request.messages.push_back({entry.role, {std::move(part)}});
    }
    if (family_->screenshot_first) {
        // The first user turn's screenshot (when it is still sent) before the prompt.
        auto first_user = std::find_if(request.messages.begin(), request.messages.end(),
                                       [](const Message& m) { return m.role == Role::user; });
        std::stable_partition(
            first_user->parts.begin(), first_user->parts.end(),
            [](const ContentPart& p) { return p.kind == ContentPart::Kind::image; });
    }
    return request;
}

}  // namespace deskpilot::planner
