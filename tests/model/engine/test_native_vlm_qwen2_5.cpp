// model::NativeVlm on the tiny Qwen2.5-VL checkpoint (tests/data/engine/qwen2_5_vl_tiny): the
// backend picks Qwen2.5-VL's chat layout (default system turn), its image processor (patch 14,
// CLIP mean/std) and recipes, and answers exactly what the model gives for that prompt run
// directly; a grown conversation reuses the cache; the pixel cap shrinks the image; the
// planner family a qwen2_5_vl folder defaults to, and the pixel-cap/family conflict.
#include <QtTest>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>

#include "cancel_timing.h"
#include "model/engine/arch/vl_model.h"
#include "model/engine/chat_format.h"
#include "model/engine/native_vlm.h"
#include "model/engine/tokenizer.h"
#include "vision/image_io.h"

using namespace deskpilot;
namespace engine = deskpilot::model::engine;
namespace fs = std::filesystem;

namespace {

const fs::path kDir = fs::path(DESKPILOT_TEST_DATA_DIR) / "engine/qwen2_5_vl_tiny";

std::shared_ptr<const vision::Frame> image() {
    static const auto f =
        std::make_shared<const vision::Frame>(vision::read_image(kDir / "image.png"));
    return f;
}

planner::Request request(const std::string& text) {
    planner::Request r;
    r.messages.push_back(
        {planner::Role::user,
         {planner::ContentPart::of_image(image()), planner::ContentPart::of_text(text)}});
    return r;
}

model::GenerateOptions greedy(int n) {
    model::GenerateOptions o;
    o.temperature = 0;
    o.max_tokens = n;
    return o;
}

}  // namespace

class TestNativeVlmQwen25 : public QObject {
    Q_OBJECT

  private slots:
    void answers_what_the_model_gives_for_its_chat_layout() {
        model::NativeVlm vlm({.model_dir = kDir, .threads = 2});
        QVERIFY(QString::fromStdString(vlm.describe()).contains("native qwen2_5_vl"));
        model::CancelToken cancel;
        std::string streamed;
        const auto r = vlm.generate(
            request("click Apply"), greedy(10), [&](std::string_view s) { streamed += s; }, cancel);
        QCOMPARE(streamed, r.text);

        // The same prompt by hand: Qwen2-VL layout (with its default system turn), 35 image
        // tokens for the 140x196 image, the model run directly, greedy until a stop token.
        const auto tok = engine::Tokenizer::from_file(kDir / "tokenizer.json");
        engine::ChatOptions chat;
        chat.image_tokens = {35};
        const std::string text = engine::format_chat(engine::ChatTemplate::qwen2_vl,
                                                     request("click Apply").messages, chat);
        QVERIFY(text.find("You are a helpful assistant.") != std::string::npos);
        const auto ids = tok.encode(text);
        QCOMPARE(r.prompt_tokens, int(ids.size()));

        engine::VlModel direct(engine::load_model_config(kDir),
                               std::make_shared<const engine::Checkpoint>(kDir));
        const engine::PixelValues px =
            engine::preprocess_image(*image(), direct.preprocess_params());
        QCOMPARE(px.merged_tokens(), std::int64_t(35));
        engine::VlmState state = direct.new_state();
        std::vector<float> logits = direct.prefill(ids, {&px, 1}, state);
        engine::StreamDecoder stream(tok, true);
        std::string want;
        const auto stops = {*tok.token_to_id("<|im_end|>"), *tok.token_to_id("<|endoftext|>")};
        for (int n = 0; n < 10; ++n) {
            const auto id =
                std::int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
            if (std::find(stops.begin(), stops.end(), id) != stops.end()) break;
            want += stream.push(id);
            if (n + 1 < 10) logits = direct.decode(id, state);
        }
        if (r.finish_reason == "length") want += stream.finish();
        QCOMPARE(r.text, want);
    }

    void grown_conversation_reuses_the_cache() {
        model::CancelToken cancel;
        model::NativeVlm vlm({.model_dir = kDir, .threads = 2});
        planner::Request req = request("click Apply");
        const auto first = vlm.generate(req, greedy(6), {}, cancel);
        req.messages.push_back(
            {planner::Role::assistant, {planner::ContentPart::of_text(first.text)}});
        req.messages.push_back(
            {planner::Role::user, {planner::ContentPart::of_text("type hello")}});
        const auto second = vlm.generate(req, greedy(6), {}, cancel);
        QVERIFY(vlm.last_reused_tokens() >= first.prompt_tokens);
        model::NativeVlm fresh({.model_dir = kDir, .threads = 2});
        QCOMPARE(second.text, fresh.generate(req, greedy(6), {}, cancel).text);
    }

    void pixel_cap_shrinks_the_image() {
        model::CancelToken cancel;
        model::NativeVlm full({.model_dir = kDir, .threads = 2});
        model::NativeVlm capped({.model_dir = kDir, .max_pixels = 10000, .threads = 2});
        const auto a = full.generate(request("x"), greedy(1), {}, cancel);
        const auto b = capped.generate(request("x"), greedy(1), {}, cancel);
        QCOMPARE(a.prompt_tokens - b.prompt_tokens, 35 - 12);  // 140x196 → 84x112: 6x8 / 4
    }

    void cancellation_during_prefill() {
        // A 1920x1080 screenshot: 10764 patches through the window-attention tower and 2691
        // image tokens through the decoder; a cancel in the middle returns within 100 ms.
        auto frame = std::make_shared<const vision::Frame>(vision::read_image(
            fs::path(DESKPILOT_TEST_DATA_DIR) / "engine/preprocess/screen_1920x1080.png"));
        planner::Request req;
        req.messages.push_back({planner::Role::user,
                                {planner::ContentPart::of_image(frame),
                                 planner::ContentPart::of_text("click Apply")}});
        model::CancelToken cancel;
        model::NativeVlm vlm({.model_dir = kDir, .threads = 2});
        const auto t0 = std::chrono::steady_clock::now();
        const auto full = vlm.generate(req, greedy(1), {}, cancel);
        const double full_ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
        QCOMPARE(full.prompt_tokens > 2691, true);
        if (full_ms < 60) QSKIP("prefill too fast here to cancel in the middle");

        // A fresh model for each attempt: nothing of the last one is cached.
        std::unique_ptr<model::NativeVlm> fresh;
        const auto c = test::cancel_within([&] {
            fresh = std::make_unique<model::NativeVlm>(
                model::NativeVlmConfig{.model_dir = kDir, .threads = 2});
            return test::cancel_after(*fresh, req, greedy(1), int(full_ms / 3));
        });
        QCOMPARE(c.response.finish_reason, std::string("cancelled"));
        QVERIFY2(c.after_cancel_ms < 100,
                 qPrintable(QString("returned %1 ms after cancel").arg(c.after_cancel_ms)));
        const auto again = fresh->generate(req, greedy(1), {}, cancel);
        QCOMPARE(again.text, full.text);
    }

    void family_defaults_and_the_pixel_cap_conflict() {
        QCOMPARE(model::native_default_family(kDir), std::string("ui-tars-1.5"));
        QCOMPARE(model::native_default_family(fs::path(DESKPILOT_TEST_DATA_DIR) /
                                              "engine/qwen3_vl_moe_vision_tiny"),
                 std::string("qwen3-vl"));
        QCOMPARE(model::native_default_family("/nonexistent"), std::string("qwen3-vl"));
        // Our own checkpoints name their family (their prompts and coordinates are their own).
        QCOMPARE(
            model::native_default_family(fs::path(DESKPILOT_SOURCE_DIR) / "models/deskpilot-nano"),
            std::string("deskpilot-nano"));
        QTemporaryDir marked;
        const fs::path marker = fs::path(marked.path().toStdString()) / "deskpilot.json";
        for (const auto& [text, problem] : std::vector<std::pair<std::string, std::string>>{
                 {"{\"family\": \"ui-tars-1.0\"}", ""},
                 {"{\"family\": ", "is not valid JSON"},
                 {"[\"deskpilot-nano\"]", "expected {\"family\": NAME}"},
                 {"{\"family\": 7}", "expected {\"family\": NAME}"},
                 {"{\"family\": \"gpt\"}", "unknown family 'gpt' (known: "}}) {
            std::ofstream(marker) << text;
            try {
                QCOMPARE(model::native_default_family(marked.path().toStdString()),
                         std::string("ui-tars-1.0"));
                QVERIFY2(problem.empty(), text.c_str());
            } catch (const model::ModelError& e) {
                const std::string what = e.what();
                QVERIFY2(!problem.empty() && what.find(problem) != std::string::npos &&
                             what.find(marker.string()) != std::string::npos,
                         what.c_str());
            }
        }
        // Absolute coordinates on the resized screenshot: a cap would misplace clicks.
        // A cap is honoured by the mapping (planner::with_pixel_cap) unless it is below the
        // family's smallest image (100·28² for ui-tars-1.5).
        const std::string problem = model::native_pixel_cap_problem("ui-tars-1.5", 65536);
        QVERIFY2(problem.find("pixel cap of 65536 is below") != std::string::npos, problem.c_str());
        QVERIFY(model::native_pixel_cap_problem("ui-tars-1.5", 1000000).empty());
        QVERIFY(model::native_pixel_cap_problem("ui-tars-1.5", 0).empty());
        QVERIFY(model::native_pixel_cap_problem("qwen3-vl", 1000000).empty());
    }
};

QTEST_GUILESS_MAIN(TestNativeVlmQwen25)
#include "test_native_vlm_qwen2_5.moc"
