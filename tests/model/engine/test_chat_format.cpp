// The Qwen-VL chat format against transformers' apply_chat_template
// (tools/golden/chat_format_golden.py), as text and as ids through our tokenizer.
#include <QtTest>

#include <fstream>

#include <nlohmann/json.hpp>

#include "model/engine/chat_format.h"
#include "test_data.h"

using namespace deskpilot::model::engine;
using deskpilot::planner::ContentPart;
using deskpilot::planner::Message;
using deskpilot::planner::Role;

namespace {

std::vector<Message> to_messages(const nlohmann::json& conv) {
    std::vector<Message> out;
    for (const auto& m : conv) {
        Message msg;
        const std::string role = m["role"];
        msg.role = role == "system"      ? Role::system
                   : role == "assistant" ? Role::assistant
                                         : Role::user;
        for (const auto& c : m["content"]) {
            if (c["type"] == "image")
                msg.parts.push_back(ContentPart::of_image(nullptr));
            else
                msg.parts.push_back(ContentPart::of_text(c["text"]));
        }
        out.push_back(std::move(msg));
    }
    return out;
}

}  // namespace

class ChatFormatTest : public QObject {
    Q_OBJECT
  private slots:
    void goldenConversations() {
        std::ifstream in(std::string(DESKPILOT_TEST_DATA_DIR) +
                         "/engine/tokenizer/chat_format_golden.json");
        const auto doc = nlohmann::json::parse(in);
        int n = 0;
        for (const auto& c : doc["cases"]) {
            const auto messages = to_messages(doc["conversations"][c["conversation"].get<int>()]);
            ChatOptions o;
            o.add_generation_prompt = c["add_generation_prompt"];
            o.add_vision_id = c["add_vision_id"];
            const auto tmpl =
                c["template"] == "qwen2_vl" ? ChatTemplate::qwen2_vl : ChatTemplate::qwen3_vl;
            const std::string text = format_chat(tmpl, messages, o);
            QCOMPARE(text, c["text"].get<std::string>());
            QCOMPARE(deskpilot::test::qwen3_tokenizer().encode(text),
                     c["ids"].get<std::vector<TokenId>>());
            ++n;
        }
        QCOMPARE(n, 40);
    }

    void imagePadsExpandToTheirTokenCount() {
        std::vector<Message> conv(1);
        conv[0].parts = {ContentPart::of_image(nullptr), ContentPart::of_text("hi"),
                         ContentPart::of_image(nullptr)};
        ChatOptions o;
        o.image_tokens = {3, 1};
        const std::string s = format_chat(ChatTemplate::qwen3_vl, conv, o);
        QCOMPARE(
            s,
            std::string(
                "<|im_start|>user\n<|vision_start|><|image_pad|><|image_pad|><|image_pad|><|vision_"
                "end|>hi"
                "<|vision_start|><|image_pad|><|vision_end|><|im_end|>\n<|im_start|>assistant\n"));
        const auto ids = deskpilot::test::qwen3_tokenizer().encode(s);
        QCOMPARE(std::count(ids.begin(), ids.end(), 151655), 4);
        o.image_tokens = {3};
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 format_chat(ChatTemplate::qwen3_vl, conv, o));
        o.image_tokens = {3, 1, 2};
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 format_chat(ChatTemplate::qwen3_vl, conv, o));
        o.image_tokens = {3, 0};
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 format_chat(ChatTemplate::qwen3_vl, conv, o));
    }
};

QTEST_APPLESS_MAIN(ChatFormatTest)
#include "test_chat_format.moc"
