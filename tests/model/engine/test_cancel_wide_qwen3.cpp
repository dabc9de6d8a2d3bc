// Cancelling model::NativeVlm's Qwen3-VL-MoE path at real vision widths: the production model's
// tower (Qwen3-VL-30B-A3B: 1152 wide, 16 heads, MLP 4304, patch 16, learned positions, a DeepStack
// merger) takes seconds for one block of a 1280x800 screenshot on a CPU. test_cancel_wide covers
// the Qwen2.5-VL tower; this one the Qwen3 tower's own steps (learned positions, full attention
// over every patch, the tanh-GELU MLP, the DeepStack and final mergers). The decoder is a small MoE
// (its cancels are tested with the tiny checkpoints). Each cancel must return within 100 ms, and
// the same screenshot asked again must get exactly what a fresh model answers: a cancelled
// request hands its prepared pixels back to the cache unharmed and leaves no half-written state.
#include <QtTest>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cancel_timing.h"
#include "model/engine/native_vlm.h"
#include "random_checkpoint.h"
#include "vision/image_io.h"

using namespace deskpilot;
namespace fs = std::filesystem;

namespace {

// The vision tower at Qwen3-VL-30B-A3B's widths (one block); a small decoder.
constexpr int kVHid = 1152, kVHeads = 16, kVMlp = 4304, kSide = 48, kHid = 256, kExperts = 8,
              kMoe = 256;

// The deskpilot-nano checkpoint's config and tokenizer (its chat specials and image ids), with
// the widths above and random bf16 weights.
void write_model(const fs::path& dir) {
    const fs::path nano = fs::path(DESKPILOT_SOURCE_DIR) / "models/deskpilot-nano";
    nlohmann::json config = nlohmann::json::parse(std::ifstream(nano / "config.json"));
    const int vocab = config["text_config"]["vocab_size"];
    auto& t = config["text_config"];
    t["hidden_size"] = kHid;
    t["num_hidden_layers"] = 1;
    t["moe_intermediate_size"] = kMoe;
    t["num_local_experts"] = kExperts;
    auto& v = config["vision_config"];
    v["depth"] = 1;
    v["hidden_size"] = kVHid;
    v["num_heads"] = kVHeads;
    v["intermediate_size"] = kVMlp;
    v["num_position_embeddings"] = kSide * kSide;
    v["out_hidden_size"] = kHid;
    v["deepstack_visual_indexes"] = {0};
    std::ofstream(dir / "config.json") << config.dump(1);
    fs::copy_file(nano / "tokenizer.json", dir / "tokenizer.json");

    using bench::TensorSpec;
    const int heads = t["num_attention_heads"], kv = t["num_key_value_heads"], hd = t["head_dim"];
    const std::string lm = "model.language_model.", layer = lm + "layers.0.", vis = "model.visual.";
    std::vector<TensorSpec> s = {
        {"lm_head.weight", {vocab, kHid}},
        {lm + "embed_tokens.weight", {vocab, kHid}},
        {lm + "norm.weight", {kHid}, true},
        {layer + "input_layernorm.weight", {kHid}, true},
        {layer + "post_attention_layernorm.weight", {kHid}, true},
        {layer + "self_attn.q_proj.weight", {heads * hd, kHid}},
        {layer + "self_attn.k_proj.weight", {kv * hd, kHid}},
        {layer + "self_attn.v_proj.weight", {kv * hd, kHid}},
        {layer + "self_attn.o_proj.weight", {kHid, heads * hd}},
        {layer + "self_attn.q_norm.weight", {hd}, true},
        {layer + "self_attn.k_norm.weight", {hd}, true},
        {layer + "mlp.gate.weight", {kExperts, kHid}},
        {layer + "mlp.experts.gate_up_proj", {kExperts, kHid, 2 * kMoe}},
        {layer + "mlp.experts.down_proj", {kExperts, kMoe, kHid}},
        {vis + "patch_embed.proj.weight", {kVHid, 3, 2, 16, 16}},
        {vis + "patch_embed.proj.bias", {kVHid}},
        {vis + "pos_embed.weight", {kSide * kSide, kVHid}},
    };
    const std::string b = vis + "blocks.0.";
    for (const char* n : {"norm1", "norm2"}) {
        s.push_back({b + n + ".weight", {kVHid}, true});
        s.push_back({b + n + ".bias", {kVHid}});
    }
    for (auto [n, o, i] : {std::tuple{"attn.qkv", 3 * kVHid, kVHid},
                           {"attn.proj", kVHid, kVHid},
                           {"mlp.linear_fc1", kVMlp, kVHid},
                           {"mlp.linear_fc2", kVHid, kVMlp}}) {
        s.push_back({b + n + ".weight", {o, i}});
        s.push_back({b + n + ".bias", {o}});
    }
    for (const std::string& m : {vis + "merger", vis + "deepstack_merger_list.0"}) {
        // The final merger normalises before the 2x2 shuffle, DeepStack's after it.
        const int nd = m.ends_with("merger") ? kVHid : 4 * kVHid;
        s.push_back({m + ".norm.weight", {nd}, true});
        s.push_back({m + ".norm.bias", {nd}});
        s.push_back({m + ".linear_fc1.weight", {4 * kVHid, 4 * kVHid}});
        s.push_back({m + ".linear_fc1.bias", {4 * kVHid}});
        s.push_back({m + ".linear_fc2.weight", {kHid, 4 * kVHid}});
        s.push_back({m + ".linear_fc2.bias", {kHid}});
    }
    bench::write_random_bf16(dir / "model.safetensors", s);
}

model::GenerateOptions greedy(int n) {
    model::GenerateOptions o;
    o.temperature = 0;
    o.max_tokens = n;
    return o;
}

planner::Request click_request(std::shared_ptr<const vision::Frame> frame) {
    planner::Request req;
    req.messages.push_back({planner::Role::user,
                            {planner::ContentPart::of_image(std::move(frame)),
                             planner::ContentPart::of_text("click Apply")}});
    req.family = "qwen3-vl";
    return req;
}

}  // namespace

class TestCancelWideQwen3 : public QObject {
    Q_OBJECT

    QTemporaryDir tmp_;
    fs::path dir_;
    model::NativeVlmConfig config() const { return {.model_dir = dir_, .threads = 2}; }
    vision::Frame screenshot_;

  private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        dir_ = tmp_.path().toStdString();
        write_model(dir_);
        // The sandbox at 1280x800 (4000 patches): the tower's steps take long enough to cancel
        // inside, and answering it twice (below) stays affordable.
        screenshot_ =
            vision::read_image(fs::path(DESKPILOT_TEST_DATA_DIR) / "engine/nano_golden/screen.png");
    }

    void vision_tower_cancels_inside_a_block() {
        // Cancelled in preprocessing (a new frame each attempt, so none is prepared yet), early
        // in the tower (patch embedding, learned positions) and later (attention, MLP, mergers).
        model::NativeVlm vlm(config());
        const auto c = test::cancel_within([&] {
            return test::cancel_after(
                vlm, click_request(std::make_shared<const vision::Frame>(screenshot_)), greedy(3),
                20);
        });
        qInfo("cancel at 20 ms (preprocessing): returned %.1f ms later", c.after_cancel_ms);
        QCOMPARE(c.response.finish_reason, std::string("cancelled"));
        QVERIFY2(c.after_cancel_ms < 100,
                 qPrintable(QString("cancel in preprocessing: returned %1 ms after cancel")
                                .arg(c.after_cancel_ms)));

        const auto frame = std::make_shared<const vision::Frame>(screenshot_);
        const auto req = click_request(frame);
        for (int delay : {150, 400, 1500}) {
            const auto c =
                test::cancel_within([&] { return test::cancel_after(vlm, req, greedy(3), delay); });
            qInfo("cancel at %d ms: returned %.1f ms later", delay, c.after_cancel_ms);
            QCOMPARE(c.response.finish_reason, std::string("cancelled"));
            QCOMPARE(c.response.completion_tokens, 0);
            QVERIFY2(c.after_cancel_ms < 100, qPrintable(QString("cancel at %1 ms: returned %2 ms "
                                                                 "after cancel")
                                                             .arg(delay)
                                                             .arg(c.after_cancel_ms)));
        }

        // The same frame once more, to the end, against a fresh model.
        model::CancelToken none;
        const auto after = vlm.generate(req, greedy(3), {}, none);
        model::NativeVlm fresh(config());
        const auto expected = fresh.generate(click_request(frame), greedy(3), {}, none);
        QVERIFY(expected.completion_tokens > 0);
        QCOMPARE(after.prompt_tokens, expected.prompt_tokens);
        QCOMPARE(after.text, expected.text);
        QCOMPARE(after.finish_reason, expected.finish_reason);
    }
};

QTEST_APPLESS_MAIN(TestCancelWideQwen3)
#include "test_cancel_wide_qwen3.moc"
