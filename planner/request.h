// planner::Request: the model-agnostic request the conversation builder produces and every
// model backend (remote endpoint or native engine) consumes.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vision/frame.h"

namespace deskpilot::planner {

enum class Role { system, user, assistant };

// One part of a message: text, or an image that refers to a captured frame (shared, not copied).
struct ContentPart {
    enum class Kind { text, image };
    Kind kind = Kind::text;
    std::string text;
    std::shared_ptr<const vision::Frame> image;

    static ContentPart of_text(std::string t) { return {Kind::text, std::move(t), nullptr}; }
    static ContentPart of_image(std::shared_ptr<const vision::Frame> f) {
        return {Kind::image, {}, std::move(f)};
    }
};

// "system", "user", "assistant": the names chat templates and the OpenAI API use.
constexpr std::string_view to_string(Role role) {
    switch (role) {
        case Role::system:
            return "system";
        case Role::user:
            return "user";
        case Role::assistant:
            return "assistant";
    }
    return "user";
}

struct Message {
    Role role = Role::user;
    std::vector<ContentPart> parts;
};

struct Request {
    std::vector<Message> messages;
    std::string family;  // model family, e.g. "ui-tars-1.5": decides image sizing and coordinates
};

}  // namespace deskpilot::planner
