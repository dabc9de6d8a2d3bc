// The deskpilot-nano tokenizer (tools/train_nano/train_tokenizer.py: a compact byte-level BPE
// with Qwen2's pre-tokenizer and the chat specials): our engine's ids equal the `tokenizers`
// library's on generated answers, instructions and a chat prefix (golden.json, written by the
// same script, or add_number_tokens.py for the committed one), numbers up to 999 are single
// tokens, and the specials are single ids.
#include <QtTest>

#include <fstream>

#include <nlohmann/json.hpp>

#include "model/engine/tokenizer.h"

using namespace deskpilot::model::engine;

namespace {

const std::string kDir = std::string(DESKPILOT_TEST_DATA_DIR) + "/engine/nano_tokenizer";

std::string ids_text(const std::vector<TokenId>& ids) {
    std::string s;
    for (auto i : ids) s += std::to_string(i) + " ";
    return s;
}

}  // namespace

class NanoTokenizerTest : public QObject {
    Q_OBJECT
    std::optional<Tokenizer> tok_;

  private slots:
    void initTestCase() {
        tok_ = Tokenizer::from_file(kDir + "/tokenizer.json");
        QVERIFY(tok_->vocab_size() >= 512 && tok_->vocab_size() <= 4096);
        QCOMPARE(tok_->vocab_size() % 64, 0);
    }

    void goldenIdsAndDecode() {
        std::ifstream in(kDir + "/golden.json");
        const auto doc = nlohmann::json::parse(in);
        int n = 0, mismatches = 0;
        for (const auto& c : doc["cases"]) {
            const std::string text = c["text"];
            const auto expected = c["ids"].get<std::vector<TokenId>>();
            const auto ids = tok_->encode(text);
            if (ids != expected) {
                ++mismatches;
                qWarning("ids differ for %s\n  ours:   %s\n  golden: %s",
                         nlohmann::json(text).dump().c_str(), ids_text(ids).c_str(),
                         ids_text(expected).c_str());
            }
            QCOMPARE(tok_->decode(expected), c["decoded"].get<std::string>());
            ++n;
        }
        QVERIFY(n >= 100);
        QCOMPARE(mismatches, 0);
    }

    void specialsAreSingleTokens() {
        for (const char* s :
             {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
              "<|image_pad|>", "<|video_pad|>", "<|box_start|>", "<|box_end|>"}) {
            const auto id = tok_->token_to_id(s);
            QVERIFY2(id.has_value(), s);
            QCOMPARE(tok_->encode(s), std::vector<TokenId>{*id});
        }
    }

    // A coordinate is one token (tools/train_nano/add_number_tokens.py: runs of up to three digits,
    // one token per number from 0 to 999), so that a model writes a point in two tokens.
    void numbersUpTo999AreSingleTokens() {
        for (int n = 0; n <= 999; ++n) {
            const std::string text = std::to_string(n);
            const auto ids = tok_->encode(text);
            QVERIFY2(ids.size() == 1, text.c_str());
            QCOMPARE(tok_->decode(ids), text);
        }
        QCOMPARE(tok_->encode("(123,45)").size(), std::size_t{5});
        // Longer runs split every three digits; a leading zero has no number token of its own.
        QCOMPARE(tok_->encode("1234567").size(), std::size_t{3});
        QCOMPARE(tok_->encode("007").size(), std::size_t{3});
    }
};

QTEST_GUILESS_MAIN(NanoTokenizerTest)
#include "test_nano_tokenizer.moc"
