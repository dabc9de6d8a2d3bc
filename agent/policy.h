// Supervision policy: which actions run at once, which wait for a person, which never run;
// and loop detection (the same action at the same place again and again with no effect).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "planner/action.h"
#include "vision/frame.h"

namespace deskpilot::agent {

enum class ApprovalMode {
    automatic,  // "auto": everything runs unless denied
    each,       // every action waits for approve / edit / reject
    risky,      // hotkeys, text ending in Enter, and actions inside risky regions wait
};

// "auto" | "each" | "risky"; nullopt for anything else.
std::optional<ApprovalMode> approval_mode_from_string(const std::string& text);

struct PolicyConfig {
    ApprovalMode mode = ApprovalMode::automatic;
    std::vector<vision::Rect> risky_regions;
    std::vector<vision::Rect> deny_regions;
    std::vector<std::vector<std::string>> deny_hotkeys{{"ctrl", "alt", "delete"},
                                                       {"ctrl", "alt", "backspace"}};
    std::size_t max_typed_length = 2000;  // characters (UTF-8 code points)
};

struct PolicyDecision {
    enum class Kind { allow, needs_approval, deny };
    Kind kind = Kind::allow;
    std::string reason;  // why it needs approval or is denied
};

PolicyDecision evaluate(const PolicyConfig& config, const planner::Action& action);

// Canonical key name for comparisons: lowercase, aliases folded (control -> ctrl, del -> delete,
// return -> enter, win/super/cmd/command -> meta, esc -> escape).
std::string canonical_key(const std::string& key);

// Ends a run that repeats itself: the same action at the same place `limit` times in a row
// while the screen does not change.
class LoopDetector {
  public:
    explicit LoopDetector(int limit = 3) : limit_(limit) {}
    // Call once per executed action with whether the screen changed after it. Returns a message
    // naming the action when the loop limit is reached.
    std::optional<std::string> observe(const planner::Action& action, bool screen_changed);
    void reset();

  private:
    int limit_;
    std::optional<planner::Action> last_;
    int repeats_ = 0;
};

}  // namespace deskpilot::agent
