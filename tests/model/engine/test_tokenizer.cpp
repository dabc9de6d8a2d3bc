// The tokenizer against the `tokenizers` library's ids (tools/golden/tokenizer_golden.py) on the
// real Qwen3 tokenizer, streaming decode of split characters, and malformed tokenizer files.
#include <QtTest>

#include <fstream>

#include <nlohmann/json.hpp>

#include "model/engine/tokenizer.h"
#include "test_data.h"

using namespace deskpilot::model::engine;
using deskpilot::test::qwen3_tokenizer;

namespace {

std::string ids_text(const std::vector<TokenId>& ids) {
    std::string s;
    for (auto i : ids) s += std::to_string(i) + " ";
    return s;
}

std::string error_of(std::string_view json_text) {
    try {
        Tokenizer::from_json(json_text, "bad.json");
        return "";
    } catch (const TokenizerError& e) {
        return e.what();
    }
}

}  // namespace

class TokenizerTest : public QObject {
    Q_OBJECT
  private slots:
    void initTestCase() { QVERIFY(qwen3_tokenizer().vocab_size() == 151669); }

    void goldenIdsAndDecode() {
        std::ifstream in(std::string(DESKPILOT_TEST_DATA_DIR) + "/engine/tokenizer/golden.json");
        const auto doc = nlohmann::json::parse(in);
        const auto& tok = qwen3_tokenizer();
        int n = 0, mismatches = 0;
        for (const auto& c : doc["cases"]) {
            const std::string text = c["text"];
            const auto expected = c["ids"].get<std::vector<TokenId>>();
            const auto ids = tok.encode(text);
            if (ids != expected) {
                ++mismatches;
                qWarning("ids differ for %s\n  ours:   %s\n  golden: %s",
                         nlohmann::json(text).dump().c_str(), ids_text(ids).c_str(),
                         ids_text(expected).c_str());
            }
            const std::string decoded = tok.decode(expected);
            QCOMPARE(decoded, c["decoded"].get<std::string>());
            // Streaming gives the same text, piece by piece, each piece valid UTF-8.
            StreamDecoder stream(tok);
            std::string streamed;
            for (auto id : expected) {
                const std::string piece = stream.push(id);
                streamed += piece;
            }
            streamed += stream.finish();
            QCOMPARE(streamed, decoded);
            ++n;
        }
        QVERIFY(n >= 200);
        QCOMPARE(mismatches, 0);
    }

    // Added tokens with lstrip / rstrip / single_word / normalized / special flags
    // (tools/golden/added_tokens_golden.py): the golden file's extra tokens are appended to the
    // Qwen3 tokenizer.json, as tokenizers serialises them.
    void addedTokenFlags() {
        std::ifstream in(std::string(DESKPILOT_TEST_DATA_DIR) +
                         "/engine/tokenizer/added_tokens_golden.json");
        const auto golden = nlohmann::json::parse(in);
        auto doc = nlohmann::json::parse(
            deskpilot::test::gunzip_file(deskpilot::test::qwen3_tokenizer_path()));
        for (const auto& a : golden["added_tokens"]) doc["added_tokens"].push_back(a);
        const Tokenizer tok = Tokenizer::from_json(doc.dump(), "qwen3 + added tokens");
        int n = 0;
        for (const auto& c : golden["cases"]) {
            const std::string text = c["text"];
            const std::string shown = nlohmann::json(text).dump();
            const auto ids = tok.encode(text);
            const auto expected = c["ids"].get<std::vector<TokenId>>();
            if (ids != expected)
                QFAIL(("ids differ for " + shown + "\n  ours:   " + ids_text(ids) +
                       "\n  golden: " + ids_text(expected))
                          .c_str());
            const auto split = tok.encode(text, /*parse_special=*/false);
            const auto expected_split = c["ids_split_special"].get<std::vector<TokenId>>();
            if (split != expected_split)
                QFAIL(("ids (specials as text) differ for " + shown +
                       "\n  ours:   " + ids_text(split) + "\n  golden: " + ids_text(expected_split))
                          .c_str());
            QCOMPARE(tok.decode(expected), c["decoded"].get<std::string>());
            QCOMPARE(tok.decode(expected, /*skip_special=*/true),
                     c["decoded_skip_special"].get<std::string>());
            ++n;
        }
        QVERIFY(n >= 60);
    }

    void specialTokens() {
        const auto& tok = qwen3_tokenizer();
        QCOMPARE(tok.token_to_id("<|im_start|>").value(), 151644);
        QCOMPARE(tok.token_to_id("<|image_pad|>").value(), 151655);
        QVERIFY(tok.is_special(151644));
        QVERIFY(!tok.is_special(151667));  // <think> is added but not special
        QVERIFY(tok.is_added(151667));
        const auto with = tok.encode("<|im_end|>");
        QCOMPARE(with, std::vector<TokenId>{151645});
        const auto without = tok.encode("<|im_end|>", /*parse_special=*/false);
        QVERIFY(without.size() > 1);
        QCOMPARE(tok.decode(without), std::string("<|im_end|>"));
        QCOMPARE(tok.decode(std::vector<TokenId>{151644, 872, 151645}, /*skip_special=*/true),
                 tok.decode(std::vector<TokenId>{872}));
    }

    void streamingHoldsBackSplitCharacters() {
        const auto& tok = qwen3_tokenizer();
        // A rare CJK character is two or more byte-level tokens; the first must print nothing.
        const std::string text = "\xf0\xa0\x80\x80";  // U+20000, a 4-byte character
        const auto ids = tok.encode(text);
        QVERIFY(ids.size() >= 2);
        StreamDecoder stream(tok);
        QCOMPARE(stream.push(ids[0]), std::string());
        std::string rest;
        for (std::size_t i = 1; i < ids.size(); ++i) rest += stream.push(ids[i]);
        QCOMPARE(rest, text);
        // A character cut off at the end becomes one replacement character at finish().
        StreamDecoder cut(tok);
        QCOMPARE(cut.push(ids[0]), std::string());
        QCOMPARE(cut.finish(), std::string("\xEF\xBF\xBD"));
        // A truncated character followed by another start is replaced, not held back forever.
        QCOMPARE(tok.decode(std::vector<TokenId>{ids[0], ids[0]}),
                 std::string("\xEF\xBF\xBD\xEF\xBF\xBD"));
    }

    void invalidUtf8IsAnError() {
        const auto& tok = qwen3_tokenizer();
        try {
            tok.encode("ok \xff bad");
            QFAIL("invalid UTF-8 accepted");
        } catch (const TokenizerError& e) {
            QVERIFY(std::string(e.what()).find("byte offset 3") != std::string::npos);
        }
        QVERIFY_THROWS_EXCEPTION(TokenizerError, tok.id_to_token(999999));
        QVERIFY_THROWS_EXCEPTION(TokenizerError, tok.decode(std::vector<TokenId>{-1}));
    }

    void nfcNormalisation() {
        const auto& tok = qwen3_tokenizer();
        QCOMPARE(tok.encode("cafe\xcc\x81"),
                 tok.encode("caf\xc3\xa9"));  // e + combining acute == é
    }

    void malformedFiles() {
        QVERIFY(error_of("{not json").find("bad.json: not valid JSON") == 0);
        QVERIFY(error_of(R"({"model":{"type":"WordPiece"}})").find("WordPiece") !=
                std::string::npos);
        QVERIFY(error_of(R"({"model":{"type":"BPE","vocab":{"a":0},"merges":[]}})")
                    .find("byte-level symbol") != std::string::npos);
        QVERIFY(error_of("{}").find("has no 'model'") != std::string::npos);
        QVERIFY(error_of(R"({"model":{"type":"BPE","vocab":"x"}})").find("bad.json") == 0);
        QVERIFY_THROWS_EXCEPTION(TokenizerError,
                                 Tokenizer::from_file("/nonexistent/tokenizer.json"));
    }
};

QTEST_APPLESS_MAIN(TokenizerTest)
#include "test_tokenizer.moc"
