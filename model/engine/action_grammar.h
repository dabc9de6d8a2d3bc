// Constrained action decoding: while a model answers, only tokens that keep the answer a prefix
// of a well-formed UI-TARS computer-use response may be chosen, and the answer may end only after
// a complete call. A small model that knows where to click but loses the thread of its syntax
// (deskpilot-nano trained for a few hours writes `click(start_box='( finished(...` in about one
// step in eight of the task suite) then still writes an action the agent can carry out. Its place
// is the engine, not the planner: the planner must refuse malformed text from any model, while
// the engine, holding the logits, can keep the text well-formed at the cost of nothing but the
// masking.
//
// The responses it admits are those tools/train_nano/make_dataset.py writes (deskpilot-nano's
// format, a subset of what planner::parse_response accepts):
//
//   [Thought: <one line>\n]Action: <call>
//
//   call:  click(start_box='B')   left_double(start_box='B')   right_single(start_box='B')
//          drag(start_box='B', end_box='B')   scroll(start_box='B', direction='up|down|left|right')
//          type(content='S')   hotkey(key='K')   finished(content='S')   wait()
//   B:     [<|box_start|>](x,y)[<|box_end|>], x and y of 1 to 4 digits, at most the limits
//          limit_coordinates() sets (the largest coordinates that map onto the screen, which
//          NativeVlm sets from the family and the screenshot), so that every point is on it
//   S:     a Python string body: any bytes but a quote, a backslash or a newline, or a backslash
//          and any byte
//   K:     1 to 4 key names of 1 to 16 letters, digits or '_', or of one punctuation byte (not
//          the quote or the backslash), one space between ('ctrl s', 'ctrl /'); each one of the
//          names limit_key_names() sets or a single such character, when set (NativeVlm sets the
//          actuators' names, which the app gives it)
//   The thought line is not empty and does not contain "Action:" (the planner would read the
//   call after such a second marker, and the answer would mean two things).
//
// It works on the tokens' bytes, so it needs nothing of the tokenizer beyond its vocabulary: a
// token is allowed when each of its bytes (or its box token) can follow the answer so far. A
// model whose habits differ (two-line thoughts, other calls) must not use it; it is turned on per
// checkpoint (deskpilot.json's "action_grammar") or per run (--action-grammar).
//
// Not thread-safe: mask() fills a cache from a const call. NativeVlm keeps one per engine and
// uses it under the engine's lock.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "model/engine/tokenizer.h"

namespace deskpilot::model::engine {

class ActionGrammar {
  public:
    // `stop_ids` are the tokens that end an answer (allowed only after a complete call). Box
    // tokens are used when the tokenizer has them; without them boxes are written bare.
    ActionGrammar(const Tokenizer& tokenizer, std::span<const std::int32_t> stop_ids);

    // Before a new answer.
    void reset();
    // The largest x and y a box may write (NativeVlm: the largest model coordinates that map
    // onto the screenshot's screen for the request's family); negative: no limit, only the 4
    // digits. Kept until changed.
    void limit_coordinates(int max_x, int max_y);
    // Holds each key name of a hotkey to one of `names` (without regard to case; names with
    // other characters than letters, digits and '_', or longer than 16, cannot be written and
    // are left out) or to a single letter, digit, '_' or punctuation byte; empty: any 1 to 16
    // letters, digits or '_', or one punctuation byte.
    // Why: a small model writes words for keys (hotkey(key='Save with All')), which the agent
    // refuses; held to the names the actuators know, it writes a key instead. Kept until changed.
    void limit_key_names(std::span<const std::string> names);
    // Feed each token as it is emitted. A token the grammar does not allow (a dead end, which a
    // byte-level vocabulary never reaches) turns the grammar off until reset(), so that an answer
    // is never stalled by it.
    void observe(std::int32_t id);
    // Whether it still constrains this answer.
    bool active() const { return active_; }
    // Whether `id` may come next.
    bool allows(std::int32_t id) const;
    // Sets the logit of every token that may not come next to -infinity (greedy decoding and
    // sampling then choose among the rest). Returns how many tokens remain; when none would,
    // the logits are left as they are and 0 is returned.
    std::size_t mask(std::span<float> logits) const;

    // A position in one of the admitted responses (public for the implementation's helpers).
    struct Cursor {
        std::uint16_t form = 0;     // which response form
        std::uint16_t element = 0;  // which element of it
        std::uint16_t offset = 0;   // within the element: a literal's byte, a count, an escape
        auto operator<=>(const Cursor&) const = default;
    };
    enum class Kind : std::uint8_t {
        literal,
        box_token,
        digits,
        string_body,
        key_names,
        line,
        end
    };
    struct Element {
        Kind kind = Kind::literal;
        std::vector<int> symbols;  // a literal's bytes; a box token's symbol; a number's axis
        bool optional = false;     // a box token may be left out
    };

  private:
    // Every byte is a symbol 0..255; the box tokens are 256 and 257.
    static constexpr int kBoxStart = 256, kBoxEnd = 257;
    static constexpr int kMaxKeys = 4, kMaxKeyName = 16;
    static constexpr int kDigitCount = 10000;  // a number's offset: 10 000 · digits + value
    // Key names under limit_key_names(): offset = node of key_trie_ + kKeyNodes · names before.
    static constexpr int kKeyNodes = 1024;
    using State = std::vector<Cursor>;

    void add(State& state, Cursor c) const;  // with the optional elements skipped
    void step(const Cursor& c, int symbol, State& out) const;
    State advance(const State& state, std::span<const int> symbols) const;
    bool at_end(const State& state) const;
    // The tokens allowed in the current state (not the stops), computed once per state: the
    // states of answers repeat (each literal's positions, the thought line, the numbers), so
    // after the first answers a step costs a lookup. A state's set is found by walking the
    // vocabulary's byte trie, leaving every subtree whose prefix is refused: tokens that share
    // their first bytes are checked once for those bytes.
    const std::vector<bool>& allowed_now() const;
    void walk(std::uint32_t node, const State& state, std::size_t depth,
              std::vector<bool>& allowed) const;

    struct TrieNode {
        std::vector<std::pair<int, std::uint32_t>> children;  // symbol, node
        std::vector<std::int32_t> tokens;                     // the tokens spelled to here
    };

    std::vector<std::vector<Element>> forms_;
    std::vector<std::vector<int>> token_symbols_;  // per token id; empty: never allowed
    std::vector<bool> stop_;                       // per token id
    std::vector<TrieNode> trie_;                   // node 0: the root
    mutable std::vector<State> scratch_;           // one state per trie depth
    mutable std::map<State, std::vector<bool>> allowed_cache_;
    mutable std::size_t cached_bits_ = 0;  // kept under kCacheBits (cleared when it would pass)
    static constexpr std::size_t kCacheBits = std::size_t(512) << 20;  // 64 MB
    State start_, state_;
    bool active_ = true;
    int limits_[2] = {-1, -1};  // the largest x and y; negative: none

    // The key names limit_key_names() allows, lower case; empty: no limit. Node 0: the root.
    struct KeyNode {
        std::vector<std::pair<int, std::uint16_t>> children;  // lower-case byte, node
        bool name_ends = false;                               // a whole name is spelled here
    };
    std::vector<KeyNode> key_trie_;
    int key_child(int node, int symbol) const;  // -1: none (symbol folded to lower case)
};

}  // namespace deskpilot::model::engine
