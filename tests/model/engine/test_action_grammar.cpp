// engine::ActionGrammar on the real deskpilot-nano tokenizer: every response form the nano data
// generator writes is allowed token by token and may end only once its call is complete; the
// malformed continuations the from-scratch checkpoints were seen to write (a word for a
// coordinate, a call with no "Action:", a third coordinate, an answer that stops inside its
// thought) are refused, and under coordinate limits so are numbers past them (a point below the
// screen) and under key names held to a list so are words that are not keys; mask() leaves the best
// allowed token on top; a dead end turns the grammar off rather than stall an answer.
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/engine/action_grammar.h"

using namespace deskpilot::model::engine;
namespace fs = std::filesystem;

namespace {
const fs::path kData = fs::path(DESKPILOT_TEST_DATA_DIR) / "engine";
}  // namespace

class ActionGrammarTest : public QObject {
    Q_OBJECT
    std::optional<Tokenizer> tok_;
    std::vector<std::int32_t> stops_;

    std::int32_t stop() const { return stops_.front(); }
    std::vector<std::int32_t> ids(const std::string& text) const { return tok_->encode(text); }
    // A grammar that has taken `prefix`, each of whose tokens it had to allow.
    ActionGrammar after(const std::string& prefix, int max_x = -1, int max_y = -1,
                        const std::vector<std::string>& key_names = {}) const {
        ActionGrammar g(*tok_, stops_);
        g.limit_coordinates(max_x, max_y);
        g.limit_key_names(key_names);
        for (std::int32_t id : ids(prefix)) {
            if (!g.allows(id))
                qFatal("'%s' refused in the prefix '%s'", tok_->id_to_token(id).c_str(),
                       prefix.c_str());
            g.observe(id);
        }
        return g;
    }
    // Whether the first token of `text` may follow `prefix`.
    bool allows(const std::string& prefix, const std::string& text) const {
        return after(prefix).allows(ids(text).at(0));
    }
    // Whether the whole of `text` may follow `prefix`, token by token.
    bool takes(const std::string& prefix, const std::string& text, int max_x = -1, int max_y = -1,
               const std::vector<std::string>& key_names = {}) const {
        ActionGrammar g = after(prefix, max_x, max_y, key_names);
        for (std::int32_t id : ids(text)) {
            if (!g.allows(id)) return false;
            g.observe(id);
        }
        return g.active();
    }

  private slots:
    void initTestCase() {
        tok_ = Tokenizer::from_file(kData / "nano_tokenizer/tokenizer.json");
        for (const char* s : {"<|im_end|>", "<|endoftext|>"})
            stops_.push_back(*tok_->token_to_id(s));
    }

    // The cases shared with the Python twin (tests/data/engine/action_grammar/cases.json): every
    // form of the data is allowed token by token and may stop only when complete; continuations
    // are taken or refused as the file says (several refusals are text from-scratch checkpoints
    // wrote: a word for a coordinate, a third coordinate, a call with no "Action:", a second
    // "Action:" inside the thought, a key name that runs on).
    void theSharedCases() {
        std::ifstream in(kData / "action_grammar/cases.json");
        const nlohmann::json cases = nlohmann::json::parse(in);
        QVERIFY(cases.at("complete").size() >= 10 && cases.at("refused").size() >= 10);
        for (const std::string answer : cases.at("complete")) {
            ActionGrammar g(*tok_, stops_);
            const std::vector<std::int32_t> tokens = ids(answer);
            for (std::size_t i = 0; i < tokens.size(); ++i) {
                QVERIFY2(g.allows(tokens[i]), (answer + " at token " + std::to_string(i)).c_str());
                QVERIFY2(!g.allows(stop()),
                         (answer + ": may stop before token " + std::to_string(i)).c_str());
                g.observe(tokens[i]);
            }
            QVERIFY2(g.active(), answer.c_str());
            QVERIFY2(g.allows(stop()) && g.allows(stops_.back()), answer.c_str());
        }
        for (const auto& c : cases.at("taken"))
            QVERIFY2(takes(c.at(0), c.at(1)),
                     (c.at(0).get<std::string>() + " | " + c.at(1).get<std::string>()).c_str());
        for (const auto& c : cases.at("refused"))
            QVERIFY2(!takes(c.at(0), c.at(1)),
                     (c.at(0).get<std::string>() + " | " + c.at(1).get<std::string>()).c_str());
        // Under limit_coordinates: numbers up to each axis's limit, and none past it.
        const nlohmann::json& limited = cases.at("limited");
        const int max_x = limited.at("limits").at(0), max_y = limited.at("limits").at(1);
        QVERIFY(limited.at("taken").size() >= 3 && limited.at("refused").size() >= 3);
        for (const auto& c : limited.at("taken"))
            QVERIFY2(takes(c.at(0), c.at(1), max_x, max_y),
                     (c.at(0).get<std::string>() + " | " + c.at(1).get<std::string>()).c_str());
        for (const auto& c : limited.at("refused")) {
            QVERIFY2(!takes(c.at(0), c.at(1), max_x, max_y),
                     (c.at(0).get<std::string>() + " | " + c.at(1).get<std::string>()).c_str());
            QVERIFY2(takes(c.at(0), c.at(1)),  // refused for the limits, not for its form
                     (c.at(0).get<std::string>() + " | " + c.at(1).get<std::string>()).c_str());
        }
        // Under limit_key_names: each key a listed name (any case) or a single character.
        const nlohmann::json& keys = cases.at("keys_limited");
        const auto names = keys.at("key_names").get<std::vector<std::string>>();
        QVERIFY(keys.at("taken").size() >= 3 && keys.at("refused").size() >= 3);
        for (const auto& c : keys.at("taken"))
            QVERIFY2(takes(c.at(0), c.at(1), -1, -1, names),
                     (c.at(0).get<std::string>() + " | " + c.at(1).get<std::string>()).c_str());
        for (const auto& c : keys.at("refused")) {
            QVERIFY2(!takes(c.at(0), c.at(1), -1, -1, names),
                     (c.at(0).get<std::string>() + " | " + c.at(1).get<std::string>()).c_str());
            QVERIFY2(takes(c.at(0), c.at(1)),  // refused for the names, not for its form
                     (c.at(0).get<std::string>() + " | " + c.at(1).get<std::string>()).c_str());
        }
    }

    // A change of the key names drops the sets cached under the old ones, and an empty list
    // lifts the limit; names the grammar cannot spell are left out, not an error.
    void keyNamesChangeTheCachedSets() {
        ActionGrammar g = after("Action: hotkey(key='ent", -1, -1, {"enter", "page-up", "Ctrl"});
        std::vector<float> logits(tok_->vocab_size(), 0.0f);
        const std::int32_t quote = ids("'").at(0), e = ids("e").at(0);
        QVERIFY(g.mask(logits) > 0);
        QVERIFY(std::isinf(logits[std::size_t(quote)]));  // "ent" is no key
        QVERIFY(!std::isinf(logits[std::size_t(e)]));     // "ente" may become "enter"
        g.limit_key_names(std::vector<std::string>{});
        std::fill(logits.begin(), logits.end(), 0.0f);
        g.mask(logits);
        QVERIFY(!std::isinf(logits[std::size_t(quote)]));  // any word again
        QVERIFY(!takes("Action: hotkey(key='", "page')", -1, -1, {"page-up"}));
        QVERIFY(takes("Action: hotkey(key='", "CTRL s')", -1, -1, {"Ctrl"}));
    }

    // Names that need more trie nodes than a cursor can hold are refused with the reason, and
    // the names set before stay.
    void tooManyKeyNamesAreRefused() {
        ActionGrammar g(*tok_, stops_);
        g.limit_key_names(std::vector<std::string>{"enter"});
        std::vector<std::string> names;
        for (char first : std::string_view("abcdefghij"))
            for (char second : std::string_view("abcdefghij"))
                names.push_back(std::string{first, second} + std::string(14, 'x'));
        try {
            g.limit_key_names(names);
            QFAIL("100 names of 16 letters were taken");
        } catch (const std::invalid_argument& e) {
            QVERIFY2(QString(e.what()).contains("more than 1024 trie nodes"), e.what());
        }
        for (std::int32_t id : ids("Action: hotkey(key='ent")) g.observe(id);
        QVERIFY(g.active());
        std::vector<float> logits(tok_->vocab_size(), 0.0f);
        g.mask(logits);
        QVERIFY(std::isinf(logits[std::size_t(ids("'").at(0))]));  // still held to "enter"
    }

    // Token by token: the first token of a continuation, the stops, the special tokens.
    void tokensAreAllowedOneByOne() {
        const std::string in_box = "Thought: x.\nAction: click(start_box='<|box_start|>(";
        QVERIFY(allows(in_box, "227"));
        QVERIFY(!allows(in_box, " finished"));    // seen: click(start_box='( finished(...
        QVERIFY(!allows(in_box + "227", " it"));  // seen: (227 it.
        QVERIFY(!allows("Thought: I need to click the 'File' menu.\nAction: ", "I"));
        QVERIFY(!allows("Thought: ", "\n"));  // an empty thought
        QVERIFY(!allows("Action: type(content='ab", "\n"));
        // The thought may not stop the answer; nothing but a stop follows a complete call.
        QVERIFY(!after("Thought: I need to click the 'Small' button").allows(stop()));
        const ActionGrammar done = after("Action: wait()");
        QVERIFY(done.allows(stop()));
        QVERIFY(!done.allows(ids("\n").at(0)));
        QVERIFY(!done.allows(ids("Action").at(0)));
        // Special tokens other than the box tokens and the stops are never written.
        QVERIFY(!after("Thought: x").allows(*tok_->token_to_id("<|im_start|>")));
        QVERIFY(!after("Action: click(start_box='").allows(*tok_->token_to_id("<|box_end|>")));
    }

    void maskLeavesTheBestAllowedTokenOnTop() {
        const ActionGrammar g = after("Action: click(start_box='<|box_start|>(");
        std::vector<float> logits(tok_->vocab_size(), 0.0f);
        logits[std::size_t(ids(" finished").at(0))] = 9.0f;  // the model's favourite: refused
        logits[std::size_t(ids("227").at(0))] = 5.0f;
        logits[std::size_t(ids("12").at(0))] = 4.0f;
        const std::size_t left = g.mask(logits);
        QVERIFY(left >= 1000 && left < tok_->vocab_size());  // the numbers 0..999 at least
        const auto best = std::max_element(logits.begin(), logits.end()) - logits.begin();
        QCOMPARE(std::int32_t(best), ids("227").at(0));
        QVERIFY(std::isinf(logits[std::size_t(ids(" finished").at(0))]));
        QCOMPARE(logits[std::size_t(ids("12").at(0))], 4.0f);
        std::size_t finite = 0;
        for (float l : logits) finite += std::isfinite(l);
        QCOMPARE(finite, left);
        // Logits beyond the tokenizer's vocabulary (a padded embedding) are never chosen.
        std::vector<float> padded(tok_->vocab_size() + 64, 1.0f);
        g.mask(padded);
        QVERIFY(std::isinf(padded.back()));
    }

    // mask() finds each state's tokens by walking the vocabulary's byte trie and keeps them per
    // state; allows() checks one token directly. One grammar through answers with states of
    // every kind, twice (the second time from the cache), then twice under coordinate limits
    // and once without them again: the two agree on every token.
    void maskAgreesWithAllowsOnEveryToken() {
        const std::vector<std::string> answers = {
            "Thought: I'll drag it.\nAction: drag(start_box='<|box_start|>(12,345)<|box_end|>', "
            "end_box='(6,7)')",
            "Action: type(content='It\\'s')", "Thought: Keys.\nAction: hotkey(key='ctrl s')",
            "Action: wait()"};
        ActionGrammar g(*tok_, stops_);
        // A change of the limits must drop the sets cached under the old ones.
        const std::vector<std::string> keys = {"ctrl", "enter"};
        for (int pass = 0; pass < 6; ++pass) {
            if (pass == 2) g.limit_coordinates(639, 383);
            if (pass == 3) g.limit_key_names(keys);
            if (pass == 4) g.limit_coordinates(-1, -1);
            if (pass == 5) g.limit_key_names(std::vector<std::string>{});
            for (const std::string& answer : answers) {
                g.reset();
                for (std::int32_t next : ids(answer)) {
                    std::vector<float> logits(tok_->vocab_size(), 0.0f);
                    const std::size_t left = g.mask(logits);
                    std::size_t allowed = 0;
                    for (std::size_t id = 0; id < logits.size(); ++id) {
                        const bool kept = std::isfinite(logits[id]);
                        QVERIFY2(kept == g.allows(std::int32_t(id)),
                                 (answer + ": token '" + tok_->id_to_token(std::int32_t(id)) +
                                  "' masked and allowed disagree")
                                     .c_str());
                        allowed += kept;
                    }
                    QCOMPARE(left, allowed);
                    QVERIFY(std::isfinite(logits[std::size_t(next)]));
                    g.observe(next);
                }
            }
        }
    }

    void aDeadEndTurnsTheGrammarOffUntilReset() {
        ActionGrammar g = after("Action: click(start_box='<|box_start|>(");
        g.observe(ids(" finished").at(0));  // not allowed: chosen anyway (a model's own path)
        QVERIFY(!g.active());
        std::vector<float> logits(tok_->vocab_size(), 1.0f);
        QCOMPARE(g.mask(logits), logits.size());
        QVERIFY(std::all_of(logits.begin(), logits.end(), [](float l) { return l == 1.0f; }));
        QVERIFY(g.allows(stop()));
        g.reset();
        QVERIFY(g.active());
        QVERIFY(!g.allows(stop()));
        QVERIFY(g.allows(ids("Thought").at(0)));
    }
};

QTEST_GUILESS_MAIN(ActionGrammarTest)
#include "test_action_grammar.moc"
