// The whole Qwen3-VL-MoE forward against transformers (tools/golden/qwen3_vl_vision_golden.py):
// a prompt with one 64x96 image (6 merged tokens), get_rope_index positions and rope_delta,
// the decoder's hidden states with the image features and DeepStack in place, prefill logits
// and three greedy decode steps. Also prefix reuse across calls and bad prompts.
#include <QtTest>

#include <cmath>
#include <filesystem>
#include <map>

#include "model/engine/arch/vl_model.h"
#include "model/engine/config.h"
#include "vision_golden.h"

using namespace deskpilot::model::engine;
namespace fs = std::filesystem;

using namespace deskpilot::testing::vision_golden;

namespace {

struct Fixture {
    Checkpoint g{kDir / "golden.safetensors"};
    Qwen3VlModel model{load_model_config(kDir),
                       std::make_shared<const Checkpoint>(kDir / "model.safetensors")};
    std::vector<std::int32_t> ids;
    std::vector<PixelValues> images;
    Fixture() {
        for (float f : golden(g, "ids")) ids.push_back(std::int32_t(f));
        PixelValues px;
        px.data = golden(g, "pixel_values");
        px.grid_thw = {1, 4, 6};
        px.rows = 24;
        px.cols = std::int64_t(px.data.size()) / 24;
        images.push_back(std::move(px));
    }
};

std::int32_t argmax(const std::vector<float>& v) {
    return std::int32_t(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace

class TestQwen3Vl : public QObject {
    Q_OBJECT

  private slots:
    void positions_match_get_rope_index() {
        Fixture f;
        const std::array<int, 3> grid{1, 4, 6};
        std::int64_t delta = 0;
        const Positions p =
            multimodal_positions(f.ids, f.model.config().image_token_id, {&grid, 1}, 2, delta);
        const auto want = golden(f.g, "positions");
        const std::size_t S = f.ids.size();
        QCOMPARE(p.size(), S);
        for (std::size_t i = 0; i < S; ++i) {
            QCOMPARE(p.t[i], std::int64_t(want[i]));
            QCOMPARE(p.h[i], std::int64_t(want[S + i]));
            QCOMPARE(p.w[i], std::int64_t(want[2 * S + i]));
        }
        QCOMPARE(delta, std::int64_t(golden(f.g, "rope_delta")[0]));
    }

    void prefill_and_decode_match_transformers() {
        Fixture f;
        std::map<std::string, std::vector<float>> seen;
        VlmState state = f.model.new_state();
        const auto logits = f.model.prefill(f.ids, f.images, state, true,
                                            [&](const std::string& name, int layer, const float* d,
                                                std::int64_t r, std::int64_t c) {
                                                seen[name + "." + std::to_string(layer)] =
                                                    std::vector<float>(d, d + r * c);
                                            });
        const int layers = f.model.config().text.num_layers;
        // hidden.0: embeddings with the image features; hidden.N (N ≥ 1): the output of layer
        // N-1 before DeepStack; the next layer's input adds DeepStack feature N-1 at the image
        // tokens (rows 6..11).
        QString why = mismatch(seen["hidden_in.0"].data(), golden(f.g, "hidden.0"));
        QVERIFY2(why.isEmpty(), qPrintable("hidden.0: " + why));
        for (int l = 0; l < layers - 1; ++l) {
            why = mismatch(seen["hidden_out." + std::to_string(l)].data(),
                           golden(f.g, "hidden." + std::to_string(l + 1)));
            QVERIFY2(why.isEmpty(), qPrintable(QString("hidden.%1: ").arg(l + 1) + why));
        }
        for (int k = 0; k < 2; ++k) {
            const auto& in = seen["hidden_in." + std::to_string(k + 1)];
            const auto& out = seen["hidden_out." + std::to_string(k)];
            const std::int64_t H = f.model.config().text.hidden_size;
            std::vector<float> added;
            for (std::int64_t i = 6 * H; i < 12 * H; ++i)
                added.push_back(in[std::size_t(i)] - out[std::size_t(i)]);
            why = mismatch(added.data(), golden(f.g, "vision.deepstack." + std::to_string(k)), 1e-3,
                           1e-4);
            QVERIFY2(why.isEmpty(), qPrintable(QString("deepstack %1: ").arg(k) + why));
            QCOMPARE(in[0], out[0]);  // text rows untouched
        }
        why = mismatch(logits.data(), golden(f.g, "logits"));
        QVERIFY2(why.isEmpty(), qPrintable("logits: " + why));

        const auto greedy = golden(f.g, "greedy");
        std::vector<float> last(logits.end() - f.model.config().text.vocab_size, logits.end());
        for (int k = 0; k < 3; ++k) {
            why = mismatch(last.data(), golden(f.g, "step." + std::to_string(k) + ".logits"));
            QVERIFY2(why.isEmpty(), qPrintable(QString("step %1: ").arg(k) + why));
            QCOMPARE(argmax(last), std::int32_t(greedy[std::size_t(k)]));
            last = f.model.decode(argmax(last), state);
        }
    }

    void grown_conversation_reuses_the_prefix() {
        Fixture f;
        VlmState fresh = f.model.new_state();
        const auto want = f.model.prefill(f.ids, f.images, fresh);
        QCOMPARE(f.model.last_reused(), std::int64_t(0));

        // First call: the prompt up to the end of the image; second call: the whole prompt.
        VlmState state = f.model.new_state();
        const std::vector<std::int32_t> head(f.ids.begin(), f.ids.begin() + 13);
        f.model.prefill(head, f.images, state);
        const auto got = f.model.prefill(f.ids, f.images, state);
        QCOMPARE(f.model.last_reused(), std::int64_t(13));
        QVERIFY(mismatch(got.data(), want).isEmpty());

        // A prefix that ends inside the image is cut back to the image's start.
        VlmState partial = f.model.new_state();
        partial.ids = f.ids;
        f.model.prefill(f.ids, f.images, partial);
        partial.ids[9] = 7;  // pretend the cache differs from the 10th token (an image token)
        const auto again = f.model.prefill(f.ids, f.images, partial);
        QCOMPARE(f.model.last_reused(), std::int64_t(6));
        QVERIFY(mismatch(again.data(), want).isEmpty());

        // A conversation that changed early is recomputed from there.
        std::vector<std::int32_t> other = f.ids;
        other[1] = (other[1] + 1) % 1000;
        f.model.prefill(other, f.images, state);
        QCOMPARE(f.model.last_reused(), std::int64_t(1));
    }

    // The same tokens with another image (the agent's second look: the same prompt on a zoomed
    // view of the same size) must not reuse the first image's cache: the answer is the new
    // image's, as a fresh state computes it.
    void another_image_behind_the_same_tokens_is_recomputed() {
        Fixture f;
        std::vector<PixelValues> other = f.images;
        for (std::size_t i = 0; i < other[0].data.size(); ++i)
            other[0].data[i] = -other[0].data[other[0].data.size() - 1 - i];
        QVERIFY(image_fingerprint(other[0]) != image_fingerprint(f.images[0]));
        VlmState fresh = f.model.new_state();
        const auto want = f.model.prefill(f.ids, other, fresh);

        VlmState state = f.model.new_state();
        const auto first = f.model.prefill(f.ids, f.images, state);
        QVERIFY(!mismatch(first.data(), want).isEmpty());  // the images do change the answer
        const auto got = f.model.prefill(f.ids, other, state);
        QCOMPARE(f.model.last_reused(), std::int64_t(6));  // up to the image's first token
        QVERIFY(mismatch(got.data(), want).isEmpty());
        // The same image again is reused up to the last token.
        f.model.prefill(f.ids, other, state);
        QCOMPARE(f.model.last_reused(), std::int64_t(f.ids.size()) - 1);
    }

    // A caller that keeps each image's fingerprint (NativeVlm) gets the same reuse as one whose
    // fingerprints prefill computes; the fingerprint alone decides whether an image is the one
    // the cache saw, and a count that does not match the images is refused.
    void given_fingerprints_decide_reuse() {
        Fixture f;
        VlmState fresh = f.model.new_state();
        const auto want = f.model.prefill(f.ids, f.images, fresh);
        const std::vector<std::uint64_t> prints = {image_fingerprint(f.images[0])};

        VlmState state = f.model.new_state();
        const auto first = f.model.prefill(f.ids, f.images, prints, state);
        QVERIFY(mismatch(first.data(), want).isEmpty());
        QCOMPARE(state.images, prints);
        f.model.prefill(f.ids, f.images, prints, state);
        QCOMPARE(f.model.last_reused(), std::int64_t(f.ids.size()) - 1);
        // Another fingerprint for the same pixels says another image: recomputed from its start.
        const std::vector<std::uint64_t> other = {prints[0] ^ 1};
        const auto again = f.model.prefill(f.ids, f.images, other, state);
        QCOMPARE(f.model.last_reused(), std::int64_t(6));
        QVERIFY(mismatch(again.data(), want).isEmpty());

        const std::vector<std::uint64_t> two = {prints[0], prints[0]};
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 f.model.prefill(f.ids, f.images, two, state));
        QVERIFY_THROWS_EXCEPTION(
            std::invalid_argument,
            f.model.prefill(f.ids, f.images, std::span<const std::uint64_t>{}, state));
    }

    void bad_prompts_are_errors() {
        Fixture f;
        VlmState state = f.model.new_state();
        std::vector<std::int32_t> short_image = f.ids;
        short_image.erase(short_image.begin() + 7);  // 5 image tokens for a 6-token image
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 f.model.prefill(short_image, f.images, state));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 f.model.prefill(f.ids, std::span<const PixelValues>{}, state));
        const std::vector<std::int32_t> empty;
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, f.model.prefill(empty, f.images, state));
    }

    // The CPU decoder hands back logits; choosing the token inside the decoder is the GPU's.
    void cpu_decoder_does_not_choose_tokens() {
        Fixture f;
        QVERIFY(!f.model.text().chooses_tokens());
        VlmState state = f.model.new_state();
        f.model.prefill(f.ids, f.images, state);
        QVERIFY_THROWS_EXCEPTION(std::logic_error, f.model.decode_choose(1, state, {}));
    }
};

QTEST_GUILESS_MAIN(TestQwen3Vl)
#include "test_qwen3_vl.moc"
