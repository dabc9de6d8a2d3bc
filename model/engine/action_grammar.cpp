#include "model/engine/action_grammar.h"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>

namespace deskpilot::model::engine {

namespace {

// The calls, in a small notation: {B} a box, {S} a Python string body, {K} key names. Each is
// admitted with and without the thought line before "Action: " (grounding answers have none).
constexpr std::string_view kCalls[] = {
    "click(start_box='{B}')",
    "left_double(start_box='{B}')",
    "right_single(start_box='{B}')",
    "drag(start_box='{B}', end_box='{B}')",
    "scroll(start_box='{B}', direction='up')",
    "scroll(start_box='{B}', direction='down')",
    "scroll(start_box='{B}', direction='left')",
    "scroll(start_box='{B}', direction='right')",
    "type(content='{S}')",
    "hotkey(key='{K}')",
    "finished(content='{S}')",
    "wait()",
};

// A byte a key name may hold: a letter, a digit or '_'.
bool is_key_name_char(int ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

// A punctuation key the actuators press by its character (hotkey(key='ctrl /')): a name of its
// own, one byte long. Not the quote, which ends the string, nor the backslash, which escapes.
bool is_key_punctuation(int ch) {
    return ch > ' ' && ch < 0x7f && !is_key_name_char(ch) && ch != '\'' && ch != '\\';
}

}  // namespace

ActionGrammar::ActionGrammar(const Tokenizer& tokenizer, std::span<const std::int32_t> stop_ids) {
    const auto box_start = tokenizer.token_to_id("<|box_start|>");
    const auto box_end = tokenizer.token_to_id("<|box_end|>");
    auto literal = [](std::vector<Element>& form, std::string_view text) {
        if (!form.empty() && form.back().kind == Kind::literal) {
            for (char ch : text) form.back().symbols.push_back(static_cast<unsigned char>(ch));
            return;
        }
        Element e;
        for (char ch : text) e.symbols.push_back(static_cast<unsigned char>(ch));
        form.push_back(std::move(e));
    };
    auto box = [&](std::vector<Element>& form) {
        if (box_start) form.push_back({Kind::box_token, {kBoxStart}, true});
        literal(form, "(");
        form.push_back({Kind::digits, {0}, false});
        literal(form, ",");
        form.push_back({Kind::digits, {1}, false});
        literal(form, ")");
        if (box_end) form.push_back({Kind::box_token, {kBoxEnd}, true});
    };
    for (const bool thought : {true, false}) {
        for (std::string_view call : kCalls) {
            std::vector<Element> form;
            if (thought) {
                literal(form, "Thought: ");
                form.push_back({Kind::line, {}, false});
                literal(form, "\n");
            }
            literal(form, "Action: ");
            while (!call.empty()) {
                const std::size_t hole = call.find('{');
                literal(form, call.substr(0, hole));
                if (hole == std::string_view::npos) break;
                if (call[hole + 1] == 'B')
                    box(form);
                else if (call[hole + 1] == 'K')
                    form.push_back({Kind::key_names, {}, false});
                else
                    form.push_back({Kind::string_body, {}, false});
                call.remove_prefix(hole + 3);
            }
            form.push_back({Kind::end, {}, false});
            forms_.push_back(std::move(form));
        }
    }

    const std::size_t vocab = tokenizer.vocab_size();
    token_symbols_.resize(vocab);
    stop_.assign(vocab, false);
    for (std::int32_t id : stop_ids)
        if (id >= 0 && std::size_t(id) < vocab) stop_[std::size_t(id)] = true;
    for (std::size_t id = 0; id < vocab; ++id) {
        const auto tid = std::int32_t(id);
        if (stop_[id]) continue;
        if (box_start && tid == *box_start) {
            token_symbols_[id] = {kBoxStart};
        } else if (box_end && tid == *box_end) {
            token_symbols_[id] = {kBoxEnd};
        } else if (!tokenizer.is_added(tid) && !tokenizer.is_special(tid)) {
            std::string bytes;
            try {
                bytes = tokenizer.token_bytes(tid);
            } catch (const std::exception&) {
                continue;  // an id with no token (a gap in the vocabulary): never allowed
            }
            for (char ch : bytes) token_symbols_[id].push_back(static_cast<unsigned char>(ch));
        }
    }
    trie_.emplace_back();
    std::size_t longest = 0;
    for (std::size_t id = 0; id < vocab; ++id) {
        std::uint32_t node = 0;
        for (int symbol : token_symbols_[id]) {
            auto& children = trie_[node].children;
            auto it = std::find_if(children.begin(), children.end(),
                                   [&](const auto& child) { return child.first == symbol; });
            if (it != children.end()) {
                node = it->second;
            } else {
                const auto added = std::uint32_t(trie_.size());
                children.emplace_back(symbol, added);
                trie_.emplace_back();  // may move `children`: not used after this
                node = added;
            }
        }
        if (node != 0) trie_[node].tokens.push_back(std::int32_t(id));
        longest = std::max(longest, token_symbols_[id].size());
    }
    scratch_.resize(longest + 1);
    for (std::size_t f = 0; f < forms_.size(); ++f) add(start_, {std::uint16_t(f), 0, 0});
    reset();
}

void ActionGrammar::reset() {
    state_ = start_;
    active_ = true;
}

void ActionGrammar::limit_coordinates(int max_x, int max_y) {
    max_x = std::max(max_x, -1);
    max_y = std::max(max_y, -1);
    if (max_x == limits_[0] && max_y == limits_[1]) return;
    limits_[0] = max_x;
    limits_[1] = max_y;
    allowed_cache_.clear();  // the numbers' sets depend on the limits
    cached_bits_ = 0;
}

void ActionGrammar::limit_key_names(std::span<const std::string> names) {
    std::vector<KeyNode> trie;
    if (!names.empty()) {
        auto insert = [&](std::string_view name) {
            int node = 0;
            for (char ch : name) {
                auto& children = trie[std::size_t(node)].children;
                auto it = std::find_if(children.begin(), children.end(),
                                       [&](const auto& child) { return child.first == ch; });
                if (it != children.end()) {
                    node = it->second;
                    continue;
                }
                if (trie.size() == kKeyNodes)
                    throw std::invalid_argument(
                        "ActionGrammar::limit_key_names: the key names need more than " +
                        std::to_string(kKeyNodes) + " trie nodes");
                children.emplace_back(ch, std::uint16_t(trie.size()));
                node = int(trie.size());
                trie.emplace_back();  // may move `children`: not used after this
            }
            trie[std::size_t(node)].name_ends = true;
        };
        trie.emplace_back();
        for (char ch : std::string_view("abcdefghijklmnopqrstuvwxyz0123456789_"))
            insert(std::string_view(&ch, 1));
        for (char ch = ' '; ch < 0x7f; ++ch)
            if (is_key_punctuation(ch)) insert(std::string_view(&ch, 1));
        for (const std::string& name : names) {
            std::string lower;
            for (char ch : name) lower += char(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
            if (!lower.empty() && lower.size() <= std::size_t(kMaxKeyName) &&
                std::all_of(lower.begin(), lower.end(), is_key_name_char))
                insert(lower);
        }
    }
    key_trie_ = std::move(trie);
    allowed_cache_.clear();  // the key names' sets depend on the limit
    cached_bits_ = 0;
}

int ActionGrammar::key_child(int node, int symbol) const {
    if (symbol >= 'A' && symbol <= 'Z') symbol += 'a' - 'A';
    for (const auto& [ch, child] : key_trie_[std::size_t(node)].children)
        if (ch == symbol) return child;
    return -1;
}

void ActionGrammar::add(State& state, Cursor c) const {
    state.push_back(c);
    const Element& e = forms_[c.form][c.element];
    if (e.kind == Kind::box_token && e.optional)
        add(state, {c.form, std::uint16_t(c.element + 1), 0});
}

void ActionGrammar::step(const Cursor& c, int symbol, State& out) const {
    const Element& e = forms_[c.form][c.element];
    const Cursor next{c.form, std::uint16_t(c.element + 1), 0};
    const Cursor stay{c.form, c.element, std::uint16_t(c.offset + 1)};
    // The symbol may belong to what follows an element that can end here (a number, a string,
    // the thought line): it is offered to the next element, and to the one after an optional
    // box token.
    auto hand_on = [&] {
        State following;
        add(following, next);
        for (const Cursor& n : following) step(n, symbol, out);
    };
    switch (e.kind) {
        case Kind::literal:
            if (symbol == e.symbols[c.offset]) {
                if (std::size_t(c.offset) + 1 == e.symbols.size())
                    add(out, next);
                else
                    out.push_back(stay);
            }
            break;
        case Kind::box_token:
            if (symbol == e.symbols[0]) add(out, next);
            break;
        case Kind::digits: {
            // offset = kDigitCount · digits so far + their value (at most 4 digits: 49 999).
            const int digits = c.offset / kDigitCount, value = c.offset % kDigitCount;
            if (symbol >= '0' && symbol <= '9' && digits < 4) {
                const int now = value * 10 + (symbol - '0');
                const int limit = limits_[e.symbols[0]];
                if (limit < 0 || now <= limit)
                    out.push_back(
                        {c.form, c.element, std::uint16_t(kDigitCount * (digits + 1) + now)});
            }
            if (digits >= 1) hand_on();
            break;
        }
        case Kind::string_body:
            if (c.offset == 1) {  // after a backslash: any byte
                if (symbol < 256) out.push_back({c.form, c.element, 0});
            } else if (symbol == '\\') {
                out.push_back({c.form, c.element, 1});
            } else if (symbol == '\'') {
                hand_on();
            } else if (symbol < 256 && symbol != '\n') {
                out.push_back(c);
            }
            break;
        case Kind::line: {
            // offset 0: empty (a thought is never empty); else 1 + how much of "Action:" its
            // end spells, which it may not spell whole: a second marker inside the thought makes
            // the planner read a call there.
            static constexpr std::string_view kMarker = "Action:";
            if (symbol == '\n') {
                if (c.offset >= 1) hand_on();
            } else if (symbol < 256) {
                const std::size_t matched = c.offset >= 1 ? std::size_t(c.offset - 1) : 0;
                std::size_t now = symbol == kMarker[matched] ? matched + 1 : symbol == 'A' ? 1 : 0;
                if (now < kMarker.size())
                    out.push_back({c.form, c.element, std::uint16_t(1 + now)});
            }
            break;
        }
        case Kind::key_names: {
            if (!key_trie_.empty()) {  // limited: each name a path of key_trie_ to a name's end
                const int node = c.offset % kKeyNodes, names = c.offset / kKeyNodes;
                const bool whole = node != 0 && key_trie_[std::size_t(node)].name_ends;
                if (const int child = symbol < 256 ? key_child(node, symbol) : -1; child >= 0)
                    out.push_back({c.form, c.element, std::uint16_t(names * kKeyNodes + child)});
                else if (symbol == ' ' && whole && names + 1 < kMaxKeys)
                    out.push_back({c.form, c.element, std::uint16_t((names + 1) * kKeyNodes)});
                else if (symbol == '\'' && whole)
                    hand_on();
                break;
            }
            // Up to kMaxKeys names of letters, digits and '_' (at most kMaxKeyName each) or of one
            // punctuation byte, one space between: offset = letters of the name so far (a
            // punctuation name: kMaxKeyName + 1, which nothing may extend) + 32 * the names before.
            const int letters = c.offset % 32, names = c.offset / 32;
            if (is_key_name_char(symbol) && letters < kMaxKeyName)
                out.push_back({c.form, c.element, std::uint16_t(c.offset + 1)});
            else if (is_key_punctuation(symbol) && letters == 0)
                out.push_back({c.form, c.element, std::uint16_t(c.offset + kMaxKeyName + 1)});
            else if (symbol == ' ' && letters >= 1 && names + 1 < kMaxKeys)
                out.push_back({c.form, c.element, std::uint16_t(32 * (names + 1))});
            else if (symbol == '\'' && letters >= 1)
                hand_on();
            break;
        }
        case Kind::end:
            break;
    }
}

ActionGrammar::State ActionGrammar::advance(const State& state,
                                            std::span<const int> symbols) const {
    State now = state, next;
    for (int symbol : symbols) {
        next.clear();
        for (const Cursor& c : now) step(c, symbol, next);
        std::sort(next.begin(), next.end());
        next.erase(std::unique(next.begin(), next.end()), next.end());
        now.swap(next);
        if (now.empty()) break;
    }
    return now;
}

bool ActionGrammar::at_end(const State& state) const {
    return std::any_of(state.begin(), state.end(), [&](const Cursor& c) {
        return forms_[c.form][c.element].kind == Kind::end;
    });
}

bool ActionGrammar::allows(std::int32_t id) const {
    if (id < 0 || std::size_t(id) >= token_symbols_.size()) return false;
    if (!active_) return true;
    if (stop_[std::size_t(id)]) return at_end(state_);
    const std::vector<int>& symbols = token_symbols_[std::size_t(id)];
    return !symbols.empty() && !advance(state_, symbols).empty();
}

void ActionGrammar::observe(std::int32_t id) {
    if (!active_ || id < 0 || std::size_t(id) >= token_symbols_.size() || stop_[std::size_t(id)])
        return;
    const std::vector<int>& symbols = token_symbols_[std::size_t(id)];
    State next = symbols.empty() ? State{} : advance(state_, symbols);
    if (next.empty())
        active_ = false;
    else
        state_ = std::move(next);
}

void ActionGrammar::walk(std::uint32_t node, const State& state, std::size_t depth,
                         std::vector<bool>& allowed) const {
    for (const auto& [symbol, child] : trie_[node].children) {
        State& next = scratch_[depth];
        next.clear();
        for (const Cursor& c : state) step(c, symbol, next);
        if (next.empty()) continue;  // no token below starts this way
        std::sort(next.begin(), next.end());
        next.erase(std::unique(next.begin(), next.end()), next.end());
        for (std::int32_t id : trie_[child].tokens) allowed[std::size_t(id)] = true;
        walk(child, next, depth + 1, allowed);
    }
}

const std::vector<bool>& ActionGrammar::allowed_now() const {
    const auto found = allowed_cache_.find(state_);
    if (found != allowed_cache_.end()) return found->second;
    if (cached_bits_ + token_symbols_.size() > kCacheBits) {
        allowed_cache_.clear();
        cached_bits_ = 0;
    }
    std::vector<bool> allowed(token_symbols_.size(), false);
    walk(0, state_, 0, allowed);
    cached_bits_ += allowed.size();
    return allowed_cache_.emplace(state_, std::move(allowed)).first->second;
}

std::size_t ActionGrammar::mask(std::span<float> logits) const {
    if (!active_) return logits.size();
    const std::vector<bool>& allowed = allowed_now();
    const bool may_stop = at_end(state_);
    auto ok = [&](std::size_t id) {
        return id < allowed.size() && (stop_[id] ? may_stop : bool(allowed[id]));
    };
    std::size_t count = 0;
    for (std::size_t id = 0; id < logits.size(); ++id) count += ok(id);
    if (count == 0) return 0;
    for (std::size_t id = 0; id < logits.size(); ++id)
        if (!ok(id)) logits[id] = -std::numeric_limits<float>::infinity();
    return count;
}

}  // namespace deskpilot::model::engine
