// Cancelling model::NativeVlm at real widths: one decoder layer of a long prompt (or one vision
// block of a full screenshot) takes seconds on a CPU, so a check between layers or blocks is not
// enough for the 100 ms promise. The model here is a Qwen2.5-VL with wide random bf16 layers
// (Qwen2.5-VL-3B's decoder widths, one layer; the real vision block widths, one block) written to a
// temp folder; each test cancels from another thread in the middle of one long op and checks that
// generate() returns "cancelled" within 100 ms, and that the next call answers exactly what a
// fresh model answers (a cancelled prefill is never reused as if complete).
#include <QtTest>

#include <filesystem>
#include <fstream>

#include "cancel_timing.h"
#include "model/engine/native_vlm.h"
#include "random_checkpoint.h"
#include "vision/image_io.h"

using namespace deskpilot;
namespace fs = std::filesystem;

namespace {

// Qwen2.5-VL-3B's decoder widths, the 3B/7B vision tower's.
constexpr int kHid = 2048, kHeads = 16, kKv = 2, kHd = 128, kMlp = 11008, kVocab = 1024,
              kVHid = 1280, kVHeads = 16, kVMlp = 3420;

void write_model(const fs::path& dir) {
    using bench::TensorSpec;
    std::vector<TensorSpec> s = {{"model.embed_tokens.weight", {kVocab, kHid}},
                                 {"model.norm.weight", {kHid}, true},
                                 {"visual.patch_embed.proj.weight", {kVHid, 3, 2, 14, 14}},
                                 {"visual.merger.ln_q.weight", {kVHid}, true},
                                 {"visual.merger.mlp.0.weight", {4 * kVHid, 4 * kVHid}},
                                 {"visual.merger.mlp.0.bias", {4 * kVHid}},
                                 {"visual.merger.mlp.2.weight", {kHid, 4 * kVHid}},
                                 {"visual.merger.mlp.2.bias", {kHid}},
                                 {"visual.blocks.0.norm1.weight", {kVHid}, true},
                                 {"visual.blocks.0.norm2.weight", {kVHid}, true}};
    for (auto [n, o, i] : {std::tuple{"attn.qkv", 3 * kVHid, kVHid},
                           {"attn.proj", kVHid, kVHid},
                           {"mlp.gate_proj", kVMlp, kVHid},
                           {"mlp.up_proj", kVMlp, kVHid},
                           {"mlp.down_proj", kVHid, kVMlp}}) {
        s.push_back({std::string("visual.blocks.0.") + n + ".weight", {o, i}});
        s.push_back({std::string("visual.blocks.0.") + n + ".bias", {o}});
    }
    const std::string p = "model.layers.0.";
    s.push_back({p + "input_layernorm.weight", {kHid}, true});
    s.push_back({p + "post_attention_layernorm.weight", {kHid}, true});
    for (auto [n, o] : {std::pair{"q", kHeads * kHd}, {"k", kKv * kHd}, {"v", kKv * kHd}}) {
        s.push_back({p + "self_attn." + n + "_proj.weight", {o, kHid}});
        s.push_back({p + "self_attn." + n + "_proj.bias", {o}});
    }
    s.push_back({p + "self_attn.o_proj.weight", {kHid, kHeads * kHd}});
    s.push_back({p + "mlp.gate_proj.weight", {kMlp, kHid}});
    s.push_back({p + "mlp.up_proj.weight", {kMlp, kHid}});
    s.push_back({p + "mlp.down_proj.weight", {kHid, kMlp}});
    bench::write_random_bf16(dir / "model.safetensors", s);
    // The tiny checkpoint's tokenizer (1024 ids, image tokens 1000-1003).
    fs::copy_file(fs::path(DESKPILOT_TEST_DATA_DIR) / "engine/qwen2_5_vl_tiny/tokenizer.json",
                  dir / "tokenizer.json");
    std::ofstream(dir / "config.json")
        << "{\"model_type\":\"qwen2_5_vl\",\"vocab_size\":" << kVocab << ",\"hidden_size\":" << kHid
        << ",\"num_hidden_layers\":1,\"num_attention_heads\":" << kHeads
        << ",\"num_key_value_heads\":" << kKv << ",\"intermediate_size\":" << kMlp
        << ",\"rms_norm_eps\":1e-6,\"rope_theta\":1000000,\"tie_word_embeddings\":true,"
           "\"rope_scaling\":{\"type\":\"mrope\",\"mrope_section\":[16,24,24]},"
           "\"image_token_id\":1000,\"vision_start_token_id\":1002,"
           "\"vision_end_token_id\":1003,"
           "\"vision_config\":{\"depth\":1,\"hidden_size\":"
        << kVHid << ",\"num_heads\":" << kVHeads << ",\"intermediate_size\":" << kVMlp
        << ",\"patch_size\":14,\"temporal_patch_size\":2,\"spatial_merge_size\":2,"
           "\"out_hidden_size\":"
        << kHid << ",\"window_size\":112,\"fullatt_block_indexes\":[0],\"hidden_act\":\"silu\"}}";
}

model::GenerateOptions greedy(int n) {
    model::GenerateOptions o;
    o.temperature = 0;
    o.max_tokens = n;
    return o;
}

planner::Request text_request(const std::string& text) {
    planner::Request r;
    r.messages.push_back({planner::Role::user, {planner::ContentPart::of_text(text)}});
    return r;
}

// Words enough for about `words` × 3 prompt tokens.
std::string words(int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += "click " + std::to_string(i * 7919 % 1000) + " ";
    return s;
}

// The best of up to three cancels of `request` on `vlm`, `delay_ms` after each start.
test::Cancelled cancel_within(model::NativeVlm& vlm, const planner::Request& request,
                              int max_tokens, int delay_ms) {
    return test::cancel_within(
        [&] { return test::cancel_after(vlm, request, greedy(max_tokens), delay_ms); });
}

}  // namespace

class TestCancelWide : public QObject {
    Q_OBJECT

    QTemporaryDir tmp_;
    fs::path dir_;
    model::NativeVlmConfig config() const { return {.model_dir = dir_, .threads = 2}; }

    // The short request every test asks after its cancel, and what a fresh model answers.
    const planner::Request short_ = text_request(words(20));
    model::Response fresh_short_;

    void answers_like_a_fresh_model(model::NativeVlm& vlm) {
        model::CancelToken cancel;
        const auto r = vlm.generate(short_, greedy(6), {}, cancel);
        QCOMPARE(r.finish_reason, fresh_short_.finish_reason);
        QCOMPARE(r.text, fresh_short_.text);
        QCOMPARE(r.completion_tokens, fresh_short_.completion_tokens);
    }

  private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        dir_ = tmp_.path().toStdString();
        write_model(dir_);
        model::NativeVlm fresh(config());
        model::CancelToken cancel;
        fresh_short_ = fresh.generate(short_, greedy(6), {}, cancel);
        QVERIFY(fresh_short_.completion_tokens > 0);
    }

    void prefill_cancels_inside_a_layer() {
        model::NativeVlm vlm(config());
        // The short request first, so the long one (which grows it) reuses its prefix and the
        // cancel leaves a partly written cache behind that prefix.
        answers_like_a_fresh_model(vlm);
        // ~1500 tokens through a 2048/11008 layer: several seconds, its MLP GEMMs about a second
        // each, so a check per layer would answer seconds late.
        const auto c = cancel_within(vlm, text_request(words(20) + words(500)), 4, 700);
        qInfo("prompt: %d tokens; returned %.1f ms after the cancel", c.response.prompt_tokens,
              c.after_cancel_ms);
        QCOMPARE(c.response.finish_reason, std::string("cancelled"));
        QCOMPARE(c.response.completion_tokens, 0);
        QVERIFY2(c.after_cancel_ms < 100,
                 qPrintable(QString("returned %1 ms after cancel").arg(c.after_cancel_ms)));
        answers_like_a_fresh_model(vlm);
    }

    void decode_cancels_between_tokens() {
        model::NativeVlm vlm(config());
        const auto c = test::cancel_within(
            [&] { return test::cancel_while_decoding(vlm, short_, greedy(1000000), 300); });
        qInfo("%d tokens; returned %.1f ms after the cancel", c.response.completion_tokens,
              c.after_cancel_ms);
        if (c.response.finish_reason == "stop")
            QSKIP("the random model ended its answer before the cancel");
        QCOMPARE(c.response.finish_reason, std::string("cancelled"));
        QVERIFY(c.response.completion_tokens > 0);
        QVERIFY2(c.after_cancel_ms < 100,
                 qPrintable(QString("returned %1 ms after cancel").arg(c.after_cancel_ms)));
        answers_like_a_fresh_model(vlm);
    }

    void vision_tower_cancels_inside_a_block() {
        // A 1920x1080 screenshot: ~10k patches through one full-attention block of width
        // 1280/3420 — tens of seconds; cancelled in its preprocessing (over 100 ms on one core;
        // a new frame each attempt, so none is prepared yet), early in the tower (patch
        // embedding, window order) and later (in the attention or MLP).
        const vision::Frame screenshot = vision::read_image(
            fs::path(DESKPILOT_TEST_DATA_DIR) / "engine/preprocess/screen_1920x1080.png");
        auto request = [&](std::shared_ptr<const vision::Frame> frame) {
            planner::Request req;
            req.messages.push_back({planner::Role::user,
                                    {planner::ContentPart::of_image(std::move(frame)),
                                     planner::ContentPart::of_text("click Apply")}});
            req.family = "ui-tars-1.5";
            return req;
        };
        model::NativeVlm vlm(config());
        const auto c = test::cancel_within([&] {
            return test::cancel_after(
                vlm, request(std::make_shared<const vision::Frame>(screenshot)), greedy(4), 20);
        });
        qInfo("cancel at 20 ms (preprocessing): returned %.1f ms later", c.after_cancel_ms);
        QCOMPARE(c.response.finish_reason, std::string("cancelled"));
        QVERIFY2(c.after_cancel_ms < 100,
                 qPrintable(QString("cancel in preprocessing: returned %1 ms after cancel")
                                .arg(c.after_cancel_ms)));
        const auto req = request(std::make_shared<const vision::Frame>(screenshot));
        for (int delay : {150, 300, 2500}) {
            const auto c = cancel_within(vlm, req, 4, delay);
            qInfo("cancel at %d ms: returned %.1f ms later", delay, c.after_cancel_ms);
            QCOMPARE(c.response.finish_reason, std::string("cancelled"));
            QVERIFY2(c.after_cancel_ms < 100, qPrintable(QString("cancel at %1 ms: returned %2 ms "
                                                                 "after cancel")
                                                             .arg(delay)
                                                             .arg(c.after_cancel_ms)));
        }
        answers_like_a_fresh_model(vlm);
    }
};

QTEST_APPLESS_MAIN(TestCancelWide)
#include "test_cancel_wide.moc"
