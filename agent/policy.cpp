#include "agent/policy.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

namespace deskpilot::agent {

namespace {

std::set<std::string> key_set(const std::vector<std::string>& keys) {
    std::set<std::string> s;
    for (const auto& k : keys) s.insert(canonical_key(k));
    return s;
}

std::size_t code_points(const std::string& utf8) {
    return static_cast<std::size_t>(std::count_if(utf8.begin(), utf8.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
}

std::string describe(const planner::Action& action) {
    return to_json(action).dump();
}

bool inside_any(const std::vector<vision::Rect>& regions, const planner::Action& action,
                vision::Rect* hit) {
    for (const auto& r : regions) {
        const bool start = action.point && r.contains(*action.point);
        const bool end = action.end && r.contains(*action.end);
        if (start || end) {
            if (hit) *hit = r;
            return true;
        }
    }
    return false;
}

std::string rect_text(const vision::Rect& r) {
    return std::to_string(r.x) + "," + std::to_string(r.y) + " " + std::to_string(r.width) + "x" +
           std::to_string(r.height);
}

}  // namespace

std::optional<ApprovalMode> approval_mode_from_string(const std::string& text) {
    if (text == "auto") return ApprovalMode::automatic;
    if (text == "each") return ApprovalMode::each;
    if (text == "risky") return ApprovalMode::risky;
    return std::nullopt;
}

std::string canonical_key(const std::string& key) {
    std::string k;
    for (unsigned char c : key) k += static_cast<char>(std::tolower(c));
    static const std::map<std::string, std::string> aliases = {
        {"control", "ctrl"},     {"del", "delete"}, {"return", "enter"},   {"win", "meta"},
        {"super", "meta"},       {"cmd", "meta"},   {"command", "meta"},   {"esc", "escape"},
        {"option", "alt"},       {"arrowup", "up"}, {"arrowdown", "down"}, {"arrowleft", "left"},
        {"arrowright", "right"},
    };
    const auto it = aliases.find(k);
    return it == aliases.end() ? k : it->second;
}

PolicyDecision evaluate(const PolicyConfig& config, const planner::Action& action) {
    using Kind = PolicyDecision::Kind;
    vision::Rect hit;
    if (inside_any(config.deny_regions, action, &hit))
        return {Kind::deny, describe(action) + " falls inside the denied region " + rect_text(hit)};
    if (action.type == planner::ActionType::hotkey || action.type == planner::ActionType::press) {
        const auto pressed = key_set(action.keys);
        for (const auto& denied : config.deny_hotkeys)
            if (key_set(denied) == pressed)
                return {Kind::deny, "the hotkey " + describe(action) + " is denied"};
    }
    if (action.type == planner::ActionType::type &&
        code_points(action.text) > config.max_typed_length)
        return {Kind::deny, "typing " + std::to_string(code_points(action.text)) +
                                " characters exceeds the limit of " +
                                std::to_string(config.max_typed_length)};

    switch (config.mode) {
        case ApprovalMode::automatic:
            return {Kind::allow, {}};
        case ApprovalMode::each:
            return {Kind::needs_approval, "every action is approved by a person (--approve each)"};
        case ApprovalMode::risky:
            if (action.type == planner::ActionType::hotkey)
                return {Kind::needs_approval, "hotkeys are risky"};
            if (action.type == planner::ActionType::type && !action.text.empty() &&
                action.text.back() == '\n')
                return {Kind::needs_approval, "typed text ending in Enter submits something"};
            if (inside_any(config.risky_regions, action, &hit))
                return {Kind::needs_approval,
                        "the action falls inside the risky region " + rect_text(hit)};
            return {Kind::allow, {}};
    }
    return {Kind::allow, {}};
}

std::optional<std::string> LoopDetector::observe(const planner::Action& action,
                                                 bool screen_changed) {
    if (screen_changed) {
        reset();
        return std::nullopt;
    }
    if (last_ && *last_ == action) {
        ++repeats_;
    } else {
        last_ = action;
        repeats_ = 1;
    }
    if (repeats_ >= limit_)
        return "the same action " + describe(action) + " ran " + std::to_string(repeats_) +
               " times in a row without changing the screen";
    return std::nullopt;
}

void LoopDetector::reset() {
    last_.reset();
    repeats_ = 0;
}

}  // namespace deskpilot::agent
