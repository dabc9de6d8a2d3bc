// model::NativeVlm on the tiny Qwen3-VL-MoE checkpoint (tests/data/engine/
// qwen3_vl_moe_vision_tiny, with the 1024-token tokenizer from tools/golden/tiny_tokenizer.py):
// streaming, determinism, prefix reuse across a grown conversation (same answer as a fresh
// model), stop strings, cancellation within 100 ms, and clear errors for bad model folders.
#include <QTemporaryDir>
#include <QtTest>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>

#include "cancel_timing.h"
#include "model/engine/native_vlm.h"
#include "vision/image_io.h"

using namespace deskpilot;
namespace fs = std::filesystem;

namespace {

const fs::path kDir = fs::path(DESKPILOT_TEST_DATA_DIR) / "engine/qwen3_vl_moe_vision_tiny";

planner::Request screenshot_request(const std::string& text) {
    auto frame = std::make_shared<const vision::Frame>(vision::read_image(kDir / "image.png"));
    planner::Request r;
    r.messages.push_back(
        {planner::Role::system, {planner::ContentPart::of_text("You are a GUI agent.")}});
    r.messages.push_back(
        {planner::Role::user,
         {planner::ContentPart::of_image(frame), planner::ContentPart::of_text(text)}});
    return r;
}

model::GenerateOptions greedy(int n) {
    model::GenerateOptions o;
    o.temperature = 0;
    o.max_tokens = n;
    return o;
}

model::NativeVlmConfig tiny() {
    return {.model_dir = kDir, .max_pixels = 0, .threads = 2};
}

QString load_error(const fs::path& dir) {
    try {
        model::NativeVlm vlm({.model_dir = dir});
        return {};
    } catch (const model::ModelError& e) {
        return e.what();
    }
}

}  // namespace

class TestNativeVlm : public QObject {
    Q_OBJECT

  private slots:
    void streams_the_answer() {
        model::NativeVlm vlm(tiny());
        QVERIFY(QString::fromStdString(vlm.describe()).contains("qwen3_vl_moe"));
        std::string streamed;
        int chunks = 0;
        model::CancelToken cancel;
        const auto r = vlm.generate(
            screenshot_request("click Apply"), greedy(12),
            [&](std::string_view s) { streamed += s, ++chunks; }, cancel);
        QVERIFY(r.prompt_tokens > 70);  // the image alone is 70 tokens (224x320 → 14x20 / 4)
        QVERIFY(r.completion_tokens >= 1 && r.completion_tokens <= 12);
        QVERIFY(r.finish_reason == "length" || r.finish_reason == "stop");
        QCOMPARE(streamed, r.text);
        QVERIFY(r.finish_reason == "stop" || chunks >= 1);
        QVERIFY(r.time_to_first_token_ms > 0 && r.total_ms >= r.time_to_first_token_ms);

        // Same request again: same answer, all but the last prompt token from the cache.
        const auto again = vlm.generate(screenshot_request("click Apply"), greedy(12), {}, cancel);
        QCOMPARE(again.text, r.text);
        QCOMPARE(vlm.last_reused_tokens(), std::int64_t(r.prompt_tokens - 1));
    }

    void grown_conversation_reuses_the_cache_and_answers_like_a_fresh_model() {
        model::CancelToken cancel;
        model::NativeVlm vlm(tiny());
        planner::Request req = screenshot_request("click Apply");
        const auto first = vlm.generate(req, greedy(8), {}, cancel);
        req.messages.push_back(
            {planner::Role::assistant, {planner::ContentPart::of_text(first.text)}});
        req.messages.push_back(
            {planner::Role::user, {planner::ContentPart::of_text("now type hello")}});
        const auto second = vlm.generate(req, greedy(8), {}, cancel);
        QVERIFY2(vlm.last_reused_tokens() >= first.prompt_tokens,
                 qPrintable(QString("reused %1 of a %2-token first prompt")
                                .arg(vlm.last_reused_tokens())
                                .arg(first.prompt_tokens)));

        model::NativeVlm fresh(tiny());
        const auto want = fresh.generate(req, greedy(8), {}, cancel);
        QCOMPARE(fresh.last_reused_tokens(), std::int64_t(0));
        QCOMPARE(second.text, want.text);
        QCOMPARE(second.prompt_tokens, want.prompt_tokens);
    }

    // The request's family sizes the screenshot: deskpilot-nano caps a 1280x800 screen at
    // 640x384 (240 image tokens), qwen3-vl sends it whole (1000); the answer's coordinates are
    // in that image, so the two must agree.
    void the_family_sizes_the_screenshot() {
        vision::Frame f;
        f.width = 1280, f.height = 800, f.stride = 1280 * 4;
        auto px = std::make_shared<std::vector<std::uint8_t>>(f.stride * f.height);
        for (std::size_t i = 0; i < px->size(); ++i) (*px)[i] = std::uint8_t(i * 7 % 251);
        f.pixels = px;
        auto frame = std::make_shared<const vision::Frame>(f);
        auto ask = [&](model::NativeVlm& vlm, const char* family) {
            planner::Request r;
            r.family = family;
            r.messages.push_back({planner::Role::user,
                                  {planner::ContentPart::of_image(frame),
                                   planner::ContentPart::of_text("click Apply")}});
            model::CancelToken cancel;
            return vlm.generate(r, greedy(1), {}, cancel).prompt_tokens;
        };
        model::NativeVlm vlm(tiny());
        const int nano = ask(vlm, "deskpilot-nano");
        const int whole = ask(vlm, "qwen3-vl");
        QCOMPARE(whole - nano, 1000 - 240);
        QCOMPARE(ask(vlm, "deskpilot-nano"), nano);  // re-prepared, not the cached 1000 tokens
        // A factor-28 family keeps the engine's own Qwen3-VL sizing.
        QCOMPARE(ask(vlm, "ui-tars-1.5"), whole);
    }

    void stop_string_ends_the_answer() {
        model::CancelToken cancel;
        model::NativeVlm vlm(tiny());
        const auto full = vlm.generate(screenshot_request("click Apply"), greedy(16), {}, cancel);
        if (full.text.size() < 6) QSKIP("the tiny model's answer is too short to cut");
        auto opts = greedy(16);
        opts.stop = {full.text.substr(3, 2)};
        std::string streamed;
        const auto cut = vlm.generate(
            screenshot_request("click Apply"), opts, [&](std::string_view s) { streamed += s; },
            cancel);
        QCOMPARE(cut.text, full.text.substr(0, full.text.find(opts.stop[0])));
        QCOMPARE(streamed, cut.text);
        QCOMPARE(cut.finish_reason, std::string("stop"));
    }

    void a_screenshot_is_prepared_once() {
        // A screenshot stays in the conversation for several steps: its pixel values are kept
        // (and lent to each prefill, not copied), and dropped once no request shows it.
        auto frame = std::make_shared<const vision::Frame>(vision::read_image(kDir / "image.png"));
        auto with_images = [](std::vector<std::shared_ptr<const vision::Frame>> frames) {
            planner::Request r;
            planner::Message m{planner::Role::user, {}};
            for (auto& f : frames) m.parts.push_back(planner::ContentPart::of_image(f));
            m.parts.push_back(planner::ContentPart::of_text("click Apply"));
            r.messages.push_back(std::move(m));
            return r;
        };
        model::NativeVlm vlm(tiny());
        model::CancelToken cancel;
        const auto first = vlm.generate(with_images({frame}), greedy(4), {}, cancel);
        QVERIFY(vlm.last_timings().preprocess_ms > 0);
        QCOMPARE(vlm.last_timings().image_tokens, 70);

        // The same frame twice in one request, then once more: prepared the first time only.
        const auto twice = vlm.generate(with_images({frame, frame}), greedy(4), {}, cancel);
        QCOMPARE(vlm.last_timings().preprocess_ms, 0.0);
        QCOMPARE(vlm.last_timings().image_tokens, 140);
        model::NativeVlm fresh(tiny());
        const auto want = fresh.generate(with_images({frame, frame}), greedy(4), {}, cancel);
        QCOMPARE(twice.text, want.text);
        const auto again = vlm.generate(with_images({frame}), greedy(4), {}, cancel);
        QCOMPARE(vlm.last_timings().preprocess_ms, 0.0);
        QCOMPARE(again.text, first.text);

        // A request without it drops it; a copy of the frame is another frame.
        vlm.generate(planner::Request{{{planner::Role::user,
                                        {planner::ContentPart::of_text("click Apply")}}}},
                     greedy(2), {}, cancel);
        const auto back = vlm.generate(with_images({frame}), greedy(4), {}, cancel);
        QVERIFY(vlm.last_timings().preprocess_ms > 0);
        QCOMPARE(back.text, first.text);
        vlm.generate(with_images({std::make_shared<const vision::Frame>(*frame)}), greedy(4), {},
                     cancel);
        QVERIFY(vlm.last_timings().preprocess_ms > 0);
    }

    void cancellation_returns_within_100_ms() {
        model::NativeVlm vlm(tiny());
        model::CancelToken cancel;
        cancel.cancel();
        auto r = vlm.generate(screenshot_request("click Apply"), greedy(8), {}, cancel);
        QCOMPARE(r.finish_reason, std::string("cancelled"));
        QCOMPARE(r.completion_tokens, 0);

        const auto c = test::cancel_within([&] {
            return test::cancel_after(vlm, screenshot_request("click Apply"), greedy(1000000), 150);
        });
        QCOMPARE(c.response.finish_reason, std::string("cancelled"));
        QVERIFY2(c.after_cancel_ms < 100,
                 qPrintable(QString("returned %1 ms after cancel").arg(c.after_cancel_ms)));

        // The conversation state survives a cancel: the next call still answers.
        cancel.reset();
        r = vlm.generate(screenshot_request("click Apply"), greedy(4), {}, cancel);
        QVERIFY(r.finish_reason != "cancelled");
    }

    void cancellation_during_prefill() {
        // A 1920x1080 screenshot: 8160 patches through the vision tower and 2040 image tokens
        // through the decoder — long enough to cancel in the middle of the prompt.
        model::NativeVlm vlm(tiny());
        auto frame = std::make_shared<const vision::Frame>(vision::read_image(
            fs::path(DESKPILOT_TEST_DATA_DIR) / "engine/preprocess/screen_1920x1080.png"));
        planner::Request req;
        req.messages.push_back({planner::Role::user,
                                {planner::ContentPart::of_image(frame),
                                 planner::ContentPart::of_text("click Apply")}});
        model::CancelToken cancel;
        const auto t0 = std::chrono::steady_clock::now();
        const auto full = vlm.generate(req, greedy(1), {}, cancel);
        const double full_ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
        if (full_ms < 60) QSKIP("prefill too fast here to cancel in the middle");

        // A fresh model for each attempt: nothing of the last one is cached.
        std::unique_ptr<model::NativeVlm> fresh;
        const auto c = test::cancel_within([&] {
            fresh = std::make_unique<model::NativeVlm>(tiny());
            return test::cancel_after(*fresh, req, greedy(1), int(full_ms / 3));
        });
        QCOMPARE(c.response.finish_reason, std::string("cancelled"));
        QCOMPARE(c.response.completion_tokens, 0);
        QVERIFY2(c.after_cancel_ms < 100,
                 qPrintable(QString("returned %1 ms after cancel").arg(c.after_cancel_ms)));
        // The state is still sound: the same request now gives the uncancelled answer.
        const auto again = fresh->generate(req, greedy(1), {}, cancel);
        QCOMPARE(again.text, full.text);
        QCOMPARE(again.prompt_tokens, full.prompt_tokens);
    }

    void bad_model_folders_are_clear_errors() {
        QVERIFY(load_error("/nonexistent/model").contains("no such model folder"));
        QTemporaryDir tmp;
        const fs::path d = tmp.path().toStdString();
        QVERIFY(load_error(d).contains("config.json is missing"));
        fs::copy_file(kDir / "config.json", d / "config.json");
        QVERIFY(load_error(d).contains("tokenizer.json is missing"));
        fs::copy_file(kDir / "tokenizer.json", d / "tokenizer.json");
        const QString no_weights = load_error(d);
        QVERIFY2(!no_weights.isEmpty() && no_weights.contains(QString::fromStdString(d.string())),
                 qPrintable(no_weights));
        // A text-only architecture: not a VLM the agent can use.
        std::ofstream(d / "config.json")
            << "{\"model_type\": \"qwen3_moe\", \"vocab_size\": 1024, \"hidden_size\": 64, "
               "\"num_hidden_layers\": 1, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
               "\"head_dim\": 32, \"num_experts\": 8, \"num_experts_per_tok\": 2, "
               "\"moe_intermediate_size\": 48, \"intermediate_size\": 96}";
        const QString arch = load_error(d);
        QVERIFY2(arch.contains("not supported"), qPrintable(arch));
    }
};

QTEST_GUILESS_MAIN(TestNativeVlm)
#include "test_native_vlm.moc"
