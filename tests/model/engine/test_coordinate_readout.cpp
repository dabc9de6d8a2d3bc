// engine::CoordinateReadout: inside a box, a greedy number becomes the probability-weighted mean
// of the numbers within the window around it (rounded half to even, as its Python twin
// nano_common.coordinate_readout); outside a box, or for a token that is no number, the greedy
// token stands. Built on the real deskpilot-nano tokenizer (one token per number 0..999); a
// tokenizer that writes numbers digit by digit is refused with the reason. NativeVlm takes the
// window from the checkpoint's deskpilot.json, and a bad one is an error naming that file.
#include <QtTest>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "model/engine/coordinate_readout.h"
#include "model/engine/native_vlm.h"

using namespace deskpilot::model::engine;
namespace fs = std::filesystem;

namespace {

const fs::path kData = fs::path(DESKPILOT_TEST_DATA_DIR) / "engine";

}  // namespace

class CoordinateReadoutTest : public QObject {
    Q_OBJECT
    std::optional<Tokenizer> tok_;
    std::int32_t box_start_ = 0, box_end_ = 0, open_ = 0;

    std::int32_t id(const std::string& token) const {
        const auto found = tok_->token_to_id(token);
        if (!found) qFatal("no token '%s'", token.c_str());
        return std::int32_t(*found);
    }
    std::int32_t number(int v) const { return id(std::to_string(v)); }
    int value(std::int32_t token) const { return std::stoi(tok_->id_to_token(token)); }
    // Logits of -inf everywhere but the numbers given (value -> logit), so that ties are exact.
    std::vector<float> logits(const std::vector<std::pair<int, float>>& numbers) const {
        std::vector<float> l(tok_->vocab_size(), -INFINITY);
        for (const auto& [v, logit] : numbers) l[std::size_t(number(v))] = logit;
        return l;
    }
    // A readout of `window` that has just seen "<|box_start|>(".
    CoordinateReadout in_box(int window) const {
        CoordinateReadout r(*tok_, window);
        r.observe(box_start_);
        r.observe(open_);
        return r;
    }

  private slots:
    void initTestCase() {
        tok_ = Tokenizer::from_file(kData / "nano_tokenizer/tokenizer.json");
        box_start_ = id("<|box_start|>");
        box_end_ = id("<|box_end|>");
        open_ = tok_->encode("(").at(0);
    }

    void theMeanOfTheWindowIsWritten() {
        const CoordinateReadout r = in_box(16);
        QVERIFY(r.wants_logits());
        // Equal mass on 100 and 104: 102.
        QCOMPARE(value(r.choose(logits({{100, 2.0f}, {104, 2.0f}}), number(100))), 102);
        // Weights 1, 1 and 1 at 100, 101 and 110: 103.67 -> 104.
        QCOMPARE(value(r.choose(logits({{100, 1.0f}, {101, 1.0f}, {110, 1.0f}}), number(100))),
                 104);
        // Probabilities, not logits: e^0 : e^-ln(3) puts a quarter of the mass on 108.
        QCOMPARE(value(r.choose(logits({{100, 0.0f}, {108, -std::log(3.0f)}}), number(100))), 102);
        // A window of 0 is the most likely number, always.
        CoordinateReadout off(*tok_, 0);
        off.observe(box_start_);
        QVERIFY(!off.wants_logits());
        QCOMPARE(off.choose(logits({{100, 2.0f}, {104, 2.0f}}), number(100)), number(100));
    }

    void halvesRoundToEven() {
        const CoordinateReadout r = in_box(16);
        QCOMPARE(value(r.choose(logits({{100, 1.0f}, {101, 1.0f}}), number(100))), 100);
        QCOMPARE(value(r.choose(logits({{101, 1.0f}, {102, 1.0f}}), number(101))), 102);
    }

    void massOutsideTheWindowIsIgnored() {
        const CoordinateReadout r = in_box(16);
        // 117 is one past the window around 100: not counted, however likely.
        QCOMPARE(value(r.choose(logits({{100, 5.0f}, {117, 4.9f}}), number(100))), 100);
        QCOMPARE(value(r.choose(logits({{100, 5.0f}, {116, 4.9f}}), number(100))), 108);
        // Clipped at 0: the window around 3 starts at 0.
        QCOMPARE(value(r.choose(logits({{3, 1.0f}, {0, 1.0f}}), number(3))), 2);
        // And at the largest number, 999.
        QCOMPARE(value(r.choose(logits({{999, 1.0f}, {995, 1.0f}}), number(999))), 997);
    }

    void onlyNumbersInsideABoxMove() {
        CoordinateReadout r(*tok_, 16);
        const std::vector<float> l = logits({{100, 2.0f}, {104, 2.0f}});
        // Before any box (a number the model types, a key it presses): as chosen.
        QVERIFY(!r.wants_logits());
        QCOMPARE(r.choose(l, number(100)), number(100));
        r.observe(box_start_);
        QCOMPARE(value(r.choose(l, number(100))), 102);
        // Inside the box, a token of no number (the comma, the bracket) stands.
        const std::int32_t comma = tok_->encode(",").at(0);
        QCOMPARE(r.choose(l, comma), comma);
        r.observe(box_end_);
        QVERIFY(!r.wants_logits());
        QCOMPARE(r.choose(l, number(100)), number(100));
        // reset() starts an answer outside any box.
        r.observe(box_start_);
        r.reset();
        QVERIFY(!r.wants_logits());
    }

    void aTokenizerWithoutNumberTokensIsRefused() {
        const Tokenizer digits =
            Tokenizer::from_file(kData / "qwen3_vl_moe_vision_tiny/tokenizer.json");
        QVERIFY(!digits.token_to_id("10"));  // the premise: Qwen's tokenizer writes digits
        try {
            CoordinateReadout r(digits, 16);
            QFAIL("a digit-by-digit tokenizer was accepted");
        } catch (const std::invalid_argument& e) {
            QVERIFY2(std::string(e.what()).find("one token per number") != std::string::npos,
                     e.what());
        }
        CoordinateReadout off(digits, 0);  // the readout off needs nothing
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, CoordinateReadout(*tok_, -1));
    }

    // The window comes from the checkpoint's deskpilot.json; a bad one names the file.
    void theCheckpointNamesItsWindow() {
        QCOMPARE(deskpilot::model::native_coordinate_window(fs::path(DESKPILOT_SOURCE_DIR) /
                                                            "models/deskpilot-nano"),
                 16);
        QCOMPARE(deskpilot::model::native_coordinate_window(kData / "qwen3_vl_moe_vision_tiny"), 0);
        QTemporaryDir dir;
        const fs::path marker = fs::path(dir.path().toStdString()) / "deskpilot.json";
        for (const auto& [text, problem] : std::vector<std::pair<std::string, std::string>>{
                 {R"({"family": "deskpilot-nano"})", ""},
                 {R"({"family": "deskpilot-nano", "coordinate_window": 8})", ""},
                 {R"({"family": "deskpilot-nano", "coordinate_window": -1})",
                  "coordinate_window must be a whole number from 0 to 1000, not -1"},
                 {R"({"family": "deskpilot-nano", "coordinate_window": 2.5})", "not 2.5"},
                 {R"({"family": "deskpilot-nano", "coordinate_window": "16"})", R"(not "16")"},
                 {R"({"family": )", "is not valid JSON"}}) {
            std::ofstream(marker) << text;
            try {
                const int window =
                    deskpilot::model::native_coordinate_window(dir.path().toStdString());
                QVERIFY2(problem.empty(), text.c_str());
                QCOMPARE(window, text.find(": 8") != std::string::npos ? 8 : 0);
            } catch (const deskpilot::model::ModelError& e) {
                const std::string what = e.what();
                QVERIFY2(!problem.empty() && what.find(problem) != std::string::npos &&
                             what.find(marker.string()) != std::string::npos,
                         what.c_str());
            }
        }
    }

    // Asked of a model whose tokenizer writes digits, the window is a load error naming the
    // folder, before any request.
    void aWindowOnADigitModelIsALoadError() {
        const fs::path dir = kData / "qwen3_vl_moe_vision_tiny";
        try {
            deskpilot::model::NativeVlm vlm(
                {.model_dir = dir, .threads = 1, .coordinate_window = 16});
            QFAIL("the window was accepted");
        } catch (const deskpilot::model::ModelError& e) {
            const std::string what = e.what();
            QVERIFY2(what.find(dir.string()) != std::string::npos &&
                         what.find("one token per number") != std::string::npos,
                     what.c_str());
        }
        deskpilot::model::NativeVlm off({.model_dir = dir, .threads = 1, .coordinate_window = 0});
        QVERIFY(!QString::fromStdString(off.describe()).contains("coordinate window"));
    }
};

QTEST_GUILESS_MAIN(CoordinateReadoutTest)
#include "test_coordinate_readout.moc"
