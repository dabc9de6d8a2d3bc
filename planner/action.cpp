#include "planner/action.h"

#include <array>
#include <cmath>
#include <utility>

#include <nlohmann/json.hpp>

#include "planner/parse_error.h"

namespace deskpilot::planner {

namespace {

constexpr std::array<std::pair<ActionType, std::string_view>, 17> kNames{{
    {ActionType::click, "click"},
    {ActionType::left_double, "left_double"},
    {ActionType::right_single, "right_single"},
    {ActionType::drag, "drag"},
    {ActionType::hotkey, "hotkey"},
    {ActionType::type, "type"},
    {ActionType::scroll, "scroll"},
    {ActionType::wait, "wait"},
    {ActionType::finished, "finished"},
    {ActionType::call_user, "call_user"},
    {ActionType::long_press, "long_press"},
    {ActionType::open_app, "open_app"},
    {ActionType::press_home, "press_home"},
    {ActionType::press_back, "press_back"},
    {ActionType::press, "press"},
    {ActionType::release, "release"},
    {ActionType::hover, "hover"},
}};

int required_int(const nlohmann::json& json, const char* key, std::string_view type) {
    const auto it = json.find(key);
    if (it == json.end())
        throw ActionError("action \"" + std::string(type) + "\" needs \"" + key + "\"");
    if (!it->is_number())
        throw ActionError("action \"" + std::string(type) + "\": \"" + key +
                          "\" must be a number, not " + it->dump());
    return it->is_number_integer() ? it->get<int>()
                                   : static_cast<int>(std::lround(it->get<double>()));
}

std::string required_string(const nlohmann::json& json, const char* key, std::string_view type) {
    const auto it = json.find(key);
    if (it == json.end())
        throw ActionError("action \"" + std::string(type) + "\" needs \"" + key + "\"");
    if (!it->is_string())
        throw ActionError("action \"" + std::string(type) + "\": \"" + key +
                          "\" must be a string, not " + it->dump());
    return it->get<std::string>();
}

// kNames by first letter (at most three names share one): the parser looks up every call it
// reads, and this compares one to three names instead of seventeen.
struct Bucket {
    std::size_t count = 0;
    std::array<std::size_t, 3> index{};
};
constexpr auto kByFirstLetter = [] {
    std::array<Bucket, 26> buckets{};
    for (std::size_t i = 0; i < kNames.size(); ++i) {
        Bucket& b = buckets[static_cast<std::size_t>(kNames[i].second[0] - 'a')];
        b.index[b.count++] = i;  // a fourth name on one letter fails to compile here
    }
    return buckets;
}();

}  // namespace

std::string_view to_string(ActionType type) {
    for (const auto& [t, name] : kNames)
        if (t == type) return name;
    return "unknown";
}

bool action_type_from_string(std::string_view name, ActionType* type) {
    if (name.empty() || name[0] < 'a' || name[0] > 'z') return false;
    const Bucket& bucket = kByFirstLetter[static_cast<std::size_t>(name[0] - 'a')];
    for (std::size_t k = 0; k < bucket.count; ++k) {
        const auto& [known_type, known] = kNames[bucket.index[k]];
        if (known == name) {
            *type = known_type;
            return true;
        }
    }
    return false;
}

std::optional<ActionType> action_type_from_string(std::string_view name) {
    ActionType type{};
    if (!action_type_from_string(name, &type)) return std::nullopt;
    return type;
}

namespace {

constexpr ActionShape shape_by_type(ActionType type) {
    switch (type) {
        case ActionType::click:
        case ActionType::left_double:
        case ActionType::right_single:
        case ActionType::long_press:
        case ActionType::hover:
            return {.point = true};
        case ActionType::drag:
            return {.point = true, .end_point = true};
        case ActionType::hotkey:
        case ActionType::press:
        case ActionType::release:
            return {.keys = true};
        case ActionType::type:
            return {.text = true};
        case ActionType::scroll:
            return {.point = true, .direction = true};
        case ActionType::finished:
        case ActionType::call_user:
            return {};  // text optional
        case ActionType::open_app:
            return {.app_name = true};
        case ActionType::wait:
        case ActionType::press_home:
        case ActionType::press_back:
            return {};
    }
    return {};
}

// shape_by_type as a table: the compiled switch builds the struct byte by byte on the stack and
// reads it back whole, a store-forwarding stall on every call (the parser asks for every action).
constexpr auto kShapes = [] {
    std::array<ActionShape, kNames.size()> shapes{};
    for (std::size_t i = 0; i < shapes.size(); ++i)
        shapes[i] = shape_by_type(static_cast<ActionType>(i));
    return shapes;
}();

}  // namespace

ActionShape shape_of(ActionType type) {
    const auto i = static_cast<std::size_t>(type);
    return i < kShapes.size() ? kShapes[i] : ActionShape{};
}

nlohmann::json to_json(const Action& action) {
    nlohmann::json json;
    json["type"] = std::string(to_string(action.type));
    if (action.point) {
        json["x"] = action.point->x;
        json["y"] = action.point->y;
    }
    if (action.end) {
        json["x2"] = action.end->x;
        json["y2"] = action.end->y;
    }
    const ActionShape shape = shape_of(action.type);
    if (shape.keys || !action.keys.empty()) json["keys"] = action.keys;
    if (shape.text || !action.text.empty()) json["text"] = action.text;
    if (shape.direction || !action.direction.empty()) json["direction"] = action.direction;
    if (shape.app_name || !action.app_name.empty()) json["app_name"] = action.app_name;
    if (action.out_of_range) json["out_of_range"] = true;
    return json;
}

Action action_from_json(const nlohmann::json& json) {
    if (!json.is_object()) throw ActionError("an action must be a JSON object, not " + json.dump());
    const auto type_it = json.find("type");
    if (type_it == json.end() || !type_it->is_string())
        throw ActionError(
            "an action needs a \"type\" string, e.g. {\"type\":\"click\",\"x\":10,\"y\":20}");
    const std::string name = type_it->get<std::string>();
    const auto type = action_type_from_string(name);
    if (!type) throw ActionError("unknown action type \"" + name + "\"");

    Action action;
    action.type = *type;
    const ActionShape shape = shape_of(*type);
    if (shape.point || json.contains("x") || json.contains("y"))
        action.point = vision::Point{required_int(json, "x", name), required_int(json, "y", name)};
    if (shape.end_point || json.contains("x2") || json.contains("y2"))
        action.end = vision::Point{required_int(json, "x2", name), required_int(json, "y2", name)};
    if (shape.keys || json.contains("keys")) {
        const auto it = json.find("keys");
        if (it == json.end() || !it->is_array() || it->empty())
            throw ActionError("action \"" + name +
                              "\" needs \"keys\": a non-empty list of key names");
        for (const auto& key : *it) {
            if (!key.is_string() || key.get<std::string>().empty())
                throw ActionError("action \"" + name +
                                  "\": every key must be a non-empty string, not " + key.dump());
            action.keys.push_back(key.get<std::string>());
        }
    }
    if (shape.text)
        action.text = required_string(json, "text", name);
    else if (json.contains("text"))
        action.text = required_string(json, "text", name);
    if (shape.direction || json.contains("direction")) {
        action.direction = required_string(json, "direction", name);
        if (action.direction != "up" && action.direction != "down" && action.direction != "left" &&
            action.direction != "right")
            throw ActionError("action \"" + name +
                              "\": direction must be up, down, left or right, not \"" +
                              action.direction + "\"");
    }
    if (shape.app_name || json.contains("app_name"))
        action.app_name = required_string(json, "app_name", name);
    if (const auto it = json.find("out_of_range"); it != json.end() && it->is_boolean())
        action.out_of_range = it->get<bool>();
    return action;
}

Action action_from_json_text(std::string_view text) {
    nlohmann::json json;
    try {
        json = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        throw ActionError("invalid action JSON '" + excerpt(text, 80) + "': " + e.what());
    }
    return action_from_json(json);
}

}  // namespace deskpilot::planner
