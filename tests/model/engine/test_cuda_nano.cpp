// The committed deskpilot-nano on the GPU (NativeVlm, device "cuda") with its coordinate window
// (engine/coordinate_readout.h): inside a box the GPU decoder hands over each step's logits
// (VlModel::decode rather than decode_choose, between steps that pick their token on the device),
// and the answer to the golden grounding request (tests/data/engine/nano_golden) is the CPU
// engine's within one model pixel and clicks inside the target; with the window off, the same.
// Labelled `gpu`: skips without a device.
#include <QtTest>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include <nlohmann/json.hpp>

#include "cuda_test_support.h"
#include "model/engine/native_vlm.h"
#include "nano_request.h"
#include "planner/conversation.h"
#include "planner/family.h"
#include "planner/parser.h"
#include "vision/image_io.h"

using namespace deskpilot;
namespace fs = std::filesystem;

namespace {

const fs::path kModel = fs::path(DESKPILOT_SOURCE_DIR) / "models/deskpilot-nano";
const fs::path kGolden = fs::path(DESKPILOT_TEST_DATA_DIR) / "engine/nano_golden";

}  // namespace

class TestCudaNano : public QObject {
    Q_OBJECT

    nlohmann::json golden_;
    std::optional<planner::ModelFamily> family_;  // as the engine sees the checkpoint
    std::shared_ptr<const vision::Frame> screen_;

    planner::Request request() const {
        return testing::nano_grounding_request(
            *family_, golden_.at("instruction").get<std::string>(), screen_);
    }

    // The one click of `answer` on the 1280x800 screen.
    vision::Point click(const std::string& answer) const {
        const planner::CoordinateMapper mapper(*family_, {1280, 800});
        const planner::Step step = planner::parse_step(answer, mapper);
        if (step.actions.size() != 1 || !step.actions[0].point)
            throw std::runtime_error("no single click in: " + answer);
        return *step.actions[0].point;
    }

    // CPU and GPU answers with `window`: within one model pixel (2 screen pixels across, 2.08
    // down), both inside the target.
    void compare(int window) {
        model::NativeVlm cpu({.model_dir = kModel, .threads = 2, .coordinate_window = window});
        model::NativeVlm gpu(
            {.model_dir = kModel, .threads = 2, .device = "cuda", .coordinate_window = window});
        QCOMPARE(QString::fromStdString(gpu.describe()).contains("coordinate window"), window > 0);
        model::GenerateOptions greedy;
        greedy.temperature = 0;
        greedy.max_tokens = golden_.at("max_new_tokens").get<int>();
        model::CancelToken cancel;
        const model::Response want = cpu.generate(request(), greedy, {}, cancel);
        const model::Response got = gpu.generate(request(), greedy, {}, cancel);
        const vision::Point a = click(want.text), b = click(got.text);
        QVERIFY2(std::abs(a.x - b.x) <= 2 && std::abs(a.y - b.y) <= 3,
                 (got.text + " on the GPU, " + want.text + " on the CPU").c_str());
        const auto& r = golden_.at("target").at("rect");
        const vision::Rect rect{r[0].get<int>(), r[1].get<int>(), r[2].get<int>(), r[3].get<int>()};
        QVERIFY2(rect.contains(b), got.text.c_str());
    }

  private slots:
    void initTestCase() {
        SKIP_WITHOUT_GPU();
        if (!fs::exists(kModel / "model.safetensors"))
            QSKIP("models/deskpilot-nano is missing (the committed checkpoint)");
        std::ifstream in(kGolden / "golden.json");
        golden_ = nlohmann::json::parse(in);
        screen_ = std::make_shared<const vision::Frame>(vision::read_image(kGolden / "screen.png"));
        family_ = testing::nano_family_as_seen(kModel);
        QVERIFY(model::native_coordinate_window(kModel) > 0);
    }

    void readoutOnTheDeviceIsTheCpus() { compare(model::native_coordinate_window(kModel)); }
    void mostLikelyNumbersOnTheDeviceAreTheCpus() { compare(0); }
};

QTEST_GUILESS_MAIN(TestCudaNano)
#include "test_cuda_nano.moc"
