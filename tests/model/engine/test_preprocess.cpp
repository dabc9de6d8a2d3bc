// Image preprocessing against transformers' Qwen2-VL image processor configured as Qwen3-VL
// (tools/golden/image_preprocess_golden.py): a small noise image (upscaled to the minimum
// pixel count), a real 1920x1080 screenshot, and the same screenshot under a CPU pixel cap.
// Each case checks the grid, the shape, every resampled 8-bit pixel (the processor's resized
// image, stored as PNG), four full rows of pixel_values (the flattening order) and sums over
// all values.
#include <QtTest>

#include <cmath>
#include <filesystem>

#include "model/engine/safetensors.h"
#include "model/engine/vision/preprocess.h"
#include "vision/image_io.h"

using namespace deskpilot;
using namespace deskpilot::model::engine;
namespace fs = std::filesystem;

namespace {

const fs::path kDir = fs::path(DESKPILOT_TEST_DATA_DIR) / "engine/preprocess";

std::vector<float> golden(const Checkpoint& ck, const std::string& name) {
    const Tensor t = ck.get(name).to_f32();
    return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

}  // namespace

class TestPreprocess : public QObject {
    Q_OBJECT

    void check_case(const std::string& name, const std::string& input, std::int64_t cap) {
        const Checkpoint ck(kDir / "golden.safetensors");
        const vision::Frame frame = vision::read_image(kDir / input);
        const PixelValues pv = preprocess_image(frame, kQwen3VlPreprocess, cap);

        const auto grid = golden(ck, name + ".grid");
        QCOMPARE(pv.grid_thw[0], int(grid[0]));
        QCOMPARE(pv.grid_thw[1], int(grid[1]));
        QCOMPARE(pv.grid_thw[2], int(grid[2]));
        const auto shape = golden(ck, name + ".shape");
        QCOMPARE(pv.rows, std::int64_t(shape[0]));
        QCOMPARE(pv.cols, std::int64_t(shape[1]));
        QCOMPARE(pv.merged_tokens(), pv.rows / 4);

        // Every pixel of the resample, exactly.
        const vision::Frame want = vision::read_image(kDir / (name + ".resized.png"));
        QCOMPARE(pv.resized.width, want.width);
        QCOMPARE(pv.resized.height, want.height);
        std::vector<std::uint8_t> rgb(std::size_t(frame.width) * std::size_t(frame.height) * 3);
        for (int y = 0; y < frame.height; ++y)
            for (int x = 0; x < frame.width; ++x)
                for (int c = 0; c < 3; ++c)
                    rgb[(std::size_t(y) * std::size_t(frame.width) + std::size_t(x)) * 3 +
                        std::size_t(c)] = frame.pixel(x, y)[2 - c];
        const auto got =
            resize_bicubic_rgb8(rgb.data(), frame.width, frame.height, want.width, want.height);
        std::int64_t mismatches = 0;
        for (int y = 0; y < want.height; ++y)
            for (int x = 0; x < want.width; ++x)
                for (int c = 0; c < 3; ++c)
                    mismatches +=
                        got[(std::size_t(y) * std::size_t(want.width) + std::size_t(x)) * 3 +
                            std::size_t(c)] != want.pixel(x, y)[2 - c];
        QCOMPARE(mismatches, std::int64_t(0));

        // Four whole rows: the patch and column order.
        const auto rows = golden(ck, name + ".rows");
        const std::int64_t picks[4] = {0, 1, pv.rows / 2, pv.rows - 1};
        for (int r = 0; r < 4; ++r)
            for (std::int64_t c = 0; c < pv.cols; ++c) {
                const float a = pv.data[std::size_t(picks[r] * pv.cols + c)];
                const float b = rows[std::size_t(r * pv.cols + c)];
                if (std::fabs(a - b) > 1e-6f)
                    QFAIL(qPrintable(QString("%1 row %2 col %3: %4 vs %5")
                                         .arg(QString::fromStdString(name))
                                         .arg(picks[r])
                                         .arg(c)
                                         .arg(a)
                                         .arg(b)));
            }

        // Sums over everything (f64 here, f64 → f32 in the reference). Values may differ from the
        // reference's f32 arithmetic by an ulp, so the bound scales with the sum of |v|.
        double sum = 0, abs_sum = 0, weighted = 0;
        for (std::size_t i = 0; i < pv.data.size(); ++i) {
            sum += pv.data[i];
            abs_sum += std::fabs(pv.data[i]);
            weighted += double(pv.data[i]) * double(i % 97 + 1);
        }
        const auto stats = golden(ck, name + ".stats");
        const double tol = 1e-6 * stats[1];
        QVERIFY2(std::fabs(sum - stats[0]) <= tol, qPrintable(QString::number(sum, 'g', 12)));
        QVERIFY2(std::fabs(abs_sum - stats[1]) <= 1e-6 * stats[1],
                 qPrintable(QString::number(abs_sum)));
        QVERIFY2(std::fabs(weighted - stats[2]) <= 100 * tol + 1e-6 * std::fabs(stats[2]),
                 qPrintable(QString::number(weighted)));
    }

  private slots:
    void small_image_upscaled() { check_case("small", "small_37x53.png", 0); }
    void screenshot_1920x1080() { check_case("screen", "screen_1920x1080.png", 0); }
    void screenshot_under_pixel_cap() { check_case("screen_cap", "screen_1920x1080.png", 1003520); }

    void qwen25_settings() {
        // Qwen2.5-VL: patch 14, so 28-pixel blocks and 1176 columns.
        const vision::Frame frame = vision::read_image(kDir / "small_37x53.png");
        const PixelValues pv = preprocess_image(frame, kQwen25VlPreprocess);
        QCOMPARE(pv.resized.width % 28, 0);
        QCOMPARE(pv.resized.height % 28, 0);
        QCOMPARE(pv.cols, std::int64_t(3 * 2 * 14 * 14));
        QCOMPARE(pv.rows, std::int64_t(pv.grid_thw[1]) * pv.grid_thw[2]);
    }

    void any_pool_size_gives_the_same_values() {
        // Rows are resampled and patched as pool jobs; the split must not change a value. The
        // Qwen2.5-VL sizing resamples both ways (1920x1080 -> 1932x1092).
        const vision::Frame frame = vision::read_image(kDir / "screen_1920x1080.png");
        cpu::ThreadPool one(1), three(3);
        const PixelValues a = preprocess_image(frame, kQwen25VlPreprocess, 0, one);
        const PixelValues b = preprocess_image(frame, kQwen25VlPreprocess, 0, three);
        QCOMPARE(a.resized.width, 1932);
        QCOMPARE(a.resized.height, 1092);
        QCOMPARE(a.rows, b.rows);
        QVERIFY(a.data == b.data);
    }

    void a_stop_scope_stops_it() {
        // What a cancelled generate() relies on: preprocessing a screenshot is over 100 ms
        // on one core, and it stops between rows.
        const vision::Frame frame = vision::read_image(kDir / "screen_1920x1080.png");
        cpu::ThreadPool pool(2);
        const cpu::StopScope stop([] { return true; });
        QVERIFY_THROWS_EXCEPTION(cpu::Stopped,
                                 preprocess_image(frame, kQwen25VlPreprocess, 0, pool));
    }

    void empty_image_is_an_error() {
        QVERIFY_THROWS_EXCEPTION(vision::ResizeError,
                                 preprocess_image(vision::Frame{}, kQwen3VlPreprocess));
    }

    void cap_below_minimum_is_an_error() {
        const vision::Frame frame = vision::read_image(kDir / "small_37x53.png");
        try {
            preprocess_image(frame, kQwen3VlPreprocess, 1000);
            QFAIL("no error");
        } catch (const std::invalid_argument& e) {
            QVERIFY(QString(e.what()).contains("65536"));
        }
    }

    void extreme_aspect_ratio_is_an_error() {
        auto px = std::make_shared<std::vector<std::uint8_t>>(std::size_t(1) * 300 * 4, 0);
        vision::Frame f;
        f.width = 300;
        f.height = 1;
        f.stride = 300 * 4;
        f.pixels = px;
        QVERIFY_THROWS_EXCEPTION(vision::ResizeError, preprocess_image(f, kQwen3VlPreprocess));
    }
};

QTEST_GUILESS_MAIN(TestPreprocess)
#include "test_preprocess.moc"
