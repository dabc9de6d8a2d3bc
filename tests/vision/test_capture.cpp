// X11ScreenSource beyond the whole screen: monitors, one monitor, frame fields, the pointer
// drawn in (XFixes), and a screen whose size changes between captures.
#include <QProcess>
#include <QtTest>

#include "actuators/x11_actuator.h"
#include "vision/x11_screen_source.h"
#include "x11_harness.h"
#include "xorg_dummy_display.h"

using namespace deskpilot;

namespace {

bool same_rgb(const std::uint8_t* p, const std::uint8_t* q) {
    return p[0] == q[0] && p[1] == q[1] && p[2] == q[2];
}

int run_tool(const QString& program, const QStringList& args, QString* err = nullptr) {
    QProcess p;
    p.start(program, args);
    p.waitForFinished(10000);
    if (err) *err = QString::fromUtf8(p.readAllStandardError());
    return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
}

}  // namespace

class CaptureTest : public QObject {
    Q_OBJECT
  private slots:
    void oneScreenIsOnePrimaryMonitor() {
        auto display = testing::start_display(1024, 640);
        vision::X11ScreenSource source(display->name());
        const auto monitors = source.monitors();
        QCOMPARE(monitors.size(), std::size_t(1));
        QCOMPARE(monitors[0].rect, (vision::Rect{0, 0, 1024, 640}));
        QVERIFY(monitors[0].primary);
        QVERIFY(!monitors[0].name.empty());
    }

    // Xvfb's +xinerama joins its screens into one root, but (unlike a real X server with a
    // layout) it puts every screen's origin at 0,0, so the heads overlap. We check what can be
    // checked here: both heads are listed with their sizes, and each can be captured.
    void xineramaHeadsAreListedAndCaptured() {
        auto display = testing::start_multi_monitor_display({{800, 600}, {640, 480}});
        vision::X11ScreenSource source(display->name());
        const auto monitors = source.monitors();
        QCOMPARE(monitors.size(), std::size_t(2));
        QCOMPARE(monitors[0].rect.width, 800);
        QCOMPARE(monitors[1].rect.width, 640);
        QCOMPARE(monitors[1].rect.height, 480);
        QVERIFY(monitors[0].primary && !monitors[1].primary);
        const auto frame = source.capture_monitor(1);
        QCOMPARE(frame.size(), (vision::Size{640, 480}));
        QCOMPARE(frame.monitor, 1);
        try {
            source.capture_monitor(2);
            QFAIL("expected DisplayError");
        } catch (const vision::DisplayError& e) {
            QVERIFY2(QString(e.what()).contains("no monitor 2"), e.what());
        }
    }

    void frameFieldsAreFilled() {
        auto display = testing::start_display(640, 480);
        vision::X11ScreenSource source(display->name());
        const auto whole = source.capture();
        const auto mon = source.capture_monitor(0);
        const auto part = source.capture_rect({100, 50, 200, 100});
        QCOMPARE(whole.monitor, -1);
        QCOMPARE(mon.monitor, 0);
        QCOMPARE(part.origin, (vision::Point{100, 50}));
        QCOMPARE(part.size(), (vision::Size{200, 100}));
        QCOMPARE(part.stride, std::size_t(800));
        QCOMPARE(whole.device_pixel_ratio, 1.0);
        QVERIFY(whole.timestamp.time_since_epoch().count() > 0);
        QVERIFY(whole.timestamp <= mon.timestamp && mon.timestamp <= part.timestamp);
        // Partly off screen: clipped. Wholly off screen: an error naming the screen size.
        QCOMPARE(source.capture_rect({600, 400, 100, 100}).size(), (vision::Size{40, 80}));
        QVERIFY_THROWS_EXCEPTION(vision::DisplayError, source.capture_rect({700, 0, 10, 10}));
    }

    void cursorIsDrawnOnlyWhenAsked() {
        auto display = testing::start_display(1280, 800);
        auto sandbox = testing::start_sandbox(
            *display, {.seed = 3, .geometry = vision::Rect{0, 0, 1200, 780}});
        const auto swatch = *sandbox->widget_rect("swatch");
        actuators::X11Actuator hands(display->name());
        const vision::Point at{swatch.x + 4, swatch.y + 4};
        hands.move(at);
        vision::X11ScreenSource source(display->name());
        QVERIFY(!source.include_cursor());
        auto differing = [&](const vision::Frame& f) {
            const auto* ref = f.pixel(swatch.x + swatch.width - 2, swatch.y + swatch.height - 2);
            int n = 0;
            for (int y = at.y; y < at.y + 12; ++y)
                for (int x = at.x; x < at.x + 8; ++x) n += !same_rgb(f.pixel(x, y), ref);
            return n;
        };
        QCOMPARE(differing(source.capture()), 0);
        source.set_include_cursor(true);
        const int drawn = differing(source.capture());
        QVERIFY2(drawn >= 10, std::to_string(drawn).c_str());
    }

    void shmImageFollowsTheGrabSize() {
        auto display = testing::start_display(1280, 800);
        vision::X11ScreenSource source(display->name(), vision::X11ScreenSource::Method::shm);
        QCOMPARE(source.capture().size(), (vision::Size{1280, 800}));
        // A smaller grab and the full one again: the shared-memory image is resized each time.
        QCOMPARE(source.capture_rect({0, 0, 300, 200}).size(), (vision::Size{300, 200}));
        QCOMPARE(source.capture().size(), (vision::Size{1280, 800}));
        QCOMPARE(source.method(), vision::X11ScreenSource::Method::shm);
    }

    // Xvfb offers a single fixed mode, so the server-side resize runs on Xorg's dummy driver.
    void screenResizeBetweenCapturesIsFollowed() {
        if (const auto why = testing::XorgDummyDisplay::unavailable()) QSKIP(why->c_str());
        testing::XorgDummyDisplay display({{1280, 800}}, {{1024, 768}});
        const QString dpy = QString::fromStdString(display.name());
        vision::X11ScreenSource source(display.name());
        QCOMPARE(source.capture().size(), (vision::Size{1280, 800}));
        QString err;
        QVERIFY2(run_tool("xrandr", {"-display", dpy, "-s", "1024x768"}, &err) == 0,
                 qPrintable(err));
        QCOMPARE(source.screen_size(), (vision::Size{1024, 768}));
        QCOMPARE(source.capture().size(), (vision::Size{1024, 768}));
        QCOMPARE(source.monitors().at(0).rect, (vision::Rect{0, 0, 1024, 768}));
        QVERIFY2(run_tool("xrandr", {"-display", dpy, "-s", "1280x800"}, &err) == 0,
                 qPrintable(err));
        QCOMPARE(source.capture().size(), (vision::Size{1280, 800}));
    }
};

QTEST_GUILESS_MAIN(CaptureTest)
#include "test_capture.moc"
