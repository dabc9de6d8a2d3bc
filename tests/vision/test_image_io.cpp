// PNG/JPEG encoding and decoding of frames, and X11 capture on a private Xvfb.
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

#include "vision/image_io.h"
#include "vision/x11_screen_source.h"
#include "x11_harness.h"

using namespace deskpilot;

namespace {

vision::Frame gradient(int w, int h) {
    vision::Frame f;
    f.width = w;
    f.height = h;
    f.stride = static_cast<std::size_t>(w) * 4;
    auto px = std::make_shared<std::vector<std::uint8_t>>(f.stride * h);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            auto* p = px->data() + y * f.stride + 4 * x;
            p[0] = static_cast<std::uint8_t>(x);
            p[1] = static_cast<std::uint8_t>(y);
            p[2] = static_cast<std::uint8_t>(x + y);
            p[3] = 255;
        }
    f.pixels = px;
    return f;
}

}  // namespace

class ImageIoTest : public QObject {
    Q_OBJECT
  private slots:
    void pngRoundTripIsLossless() {
        QTemporaryDir dir;
        const auto path = std::filesystem::path(dir.path().toStdString()) / "g.png";
        const auto frame = gradient(97, 61);
        vision::write_image(frame, path);
        const auto back = vision::read_image(path);
        QCOMPARE(back.width, 97);
        QCOMPARE(back.height, 61);
        for (int y = 0; y < 61; ++y) QVERIFY(std::memcmp(back.row(y), frame.row(y), 97 * 4) == 0);
    }

    void jpegQualityChangesSize() {
        const auto frame = gradient(256, 256);
        const auto low =
            vision::encode(frame, {.format = vision::ImageFormat::jpeg, .jpeg_quality = 10});
        const auto high =
            vision::encode(frame, {.format = vision::ImageFormat::jpeg, .jpeg_quality = 95});
        QVERIFY(low.size() < high.size());
        QCOMPARE(static_cast<int>(high[0]), 0xFF);  // JPEG SOI marker
        QCOMPARE(static_cast<int>(high[1]), 0xD8);
    }

    void unknownExtensionAndBadFileAreNamed() {
        QTemporaryDir dir;
        const auto bmp = std::filesystem::path(dir.path().toStdString()) / "x.bmp";
        QVERIFY_THROWS_EXCEPTION(vision::ImageError, vision::write_image(gradient(4, 4), bmp));
        const auto junk = std::filesystem::path(dir.path().toStdString()) / "junk.png";
        std::ofstream(junk) << "not a png";
        try {
            vision::read_image(junk);
            QFAIL("expected ImageError");
        } catch (const vision::ImageError& e) {
            QVERIFY2(QString(e.what()).contains("junk.png"), e.what());
        }
    }

    void missingDisplayIsNamed() {
        try {
            vision::X11ScreenSource source(":4712");
            QFAIL("expected DisplayError");
        } catch (const vision::DisplayError& e) {
            QVERIFY2(QString(e.what()).contains(":4712"), e.what());
        }
    }

    void captureSeesTheSwatchColour() {
        auto display = testing::start_display(1280, 800);
        auto sandbox = testing::start_sandbox(
            *display, {.seed = 3, .geometry = vision::Rect{0, 0, 1200, 780}});
        // Keep the layout in a named value: iterating `sandbox->layout().at("widgets")` directly
        // would walk a temporary that range-for does not keep alive (C++20).
        const nlohmann::json layout = sandbox->layout();
        std::string colour;
        for (const auto& w : layout.at("widgets"))
            if (w.at("name") == "swatch") colour = w.at("color").get<std::string>();
        QVERIFY2(colour.size() == 7 && colour[0] == '#',
                 ("swatch colour missing from layout: " + colour).c_str());
        const auto rect = *sandbox->widget_rect("swatch");
        const int r = std::stoi(colour.substr(1, 2), nullptr, 16),
                  g = std::stoi(colour.substr(3, 2), nullptr, 16),
                  b = std::stoi(colour.substr(5, 2), nullptr, 16);
        for (const auto method :
             {vision::X11ScreenSource::Method::shm, vision::X11ScreenSource::Method::get_image}) {
            vision::X11ScreenSource source(display->name(), method);
            const auto frame = source.capture();
            QCOMPARE(frame.width, 1280);
            QCOMPARE(frame.height, 800);
            const auto* p = frame.pixel(rect.x + rect.width / 2, rect.y + rect.height / 2);
            QCOMPARE(static_cast<int>(p[2]), r);
            QCOMPARE(static_cast<int>(p[1]), g);
            QCOMPARE(static_cast<int>(p[0]), b);
            QCOMPARE(source.method(), method);
        }
    }
};

QTEST_GUILESS_MAIN(ImageIoTest)
#include "test_image_io.moc"
