// Two monitors side by side (Xorg's dummy driver, two X screens joined by Xinerama): both are
// listed, a monitor can be captured on its own, and a click on the second monitor lands on a
// sandbox window placed there.
#include <QtTest>

#include "actuators/x11_actuator.h"
#include "vision/x11_screen_source.h"
#include "x11_harness.h"
#include "xorg_dummy_display.h"

using namespace deskpilot;
using nlohmann::json;

class MultiMonitorTest : public QObject {
    Q_OBJECT
  private slots:
    void initTestCase() {
        if (const auto why = testing::XorgDummyDisplay::unavailable()) QSKIP(why->c_str());
    }

    void bothMonitorsListedAndClickLandsOnTheSecond() {
        testing::XorgDummyDisplay display({{1280, 800}, {1280, 800}});
        actuators::X11Actuator hands(display.name());
        vision::X11ScreenSource source(display.name());
        const auto monitors = source.monitors();
        QCOMPARE(monitors.size(), std::size_t(2));
        QCOMPARE(monitors[0].rect, (vision::Rect{0, 0, 1280, 800}));
        QCOMPARE(monitors[1].rect, (vision::Rect{1280, 0, 1280, 800}));
        QVERIFY(monitors[0].primary && !monitors[1].primary);
        QCOMPARE(hands.monitors(), monitors);

        agent::SandboxProcess sandbox({.executable = testing::sandbox_executable(),
                                       .display = display.name(),
                                       .seed = 4,
                                       .geometry = vision::Rect{1300, 10, 1200, 760}});
        const auto save = *sandbox.widget_rect("save");
        QVERIFY2(monitors[1].rect.contains(save.center()),
                 "the sandbox did not open on the second monitor");
        hands.click(save.center());
        QVERIFY(sandbox.wait_for_event(
            [](const json& e) {
                return e.value("event", "") == "clicked" && e.value("widget", "") == "save";
            },
            std::chrono::milliseconds(8000)));

        // The second monitor on its own: origin, size, and the sandbox's swatch colour in it.
        const auto frame = source.capture_monitor(1);
        QCOMPARE(frame.monitor, 1);
        QCOMPARE(frame.origin, (vision::Point{1280, 0}));
        QCOMPARE(frame.size(), (vision::Size{1280, 800}));
        const json layout = sandbox.layout();
        std::string colour;
        for (const auto& w : layout.at("widgets"))
            if (w.at("name") == "swatch") colour = w.at("color").get<std::string>();
        const auto swatch = sandbox.widget_rect("swatch")->center();
        const auto* p = frame.pixel(swatch.x - 1280, swatch.y);
        QCOMPARE(static_cast<int>(p[2]), std::stoi(colour.substr(1, 2), nullptr, 16));
        QCOMPARE(static_cast<int>(p[1]), std::stoi(colour.substr(3, 2), nullptr, 16));
        QCOMPARE(static_cast<int>(p[0]), std::stoi(colour.substr(5, 2), nullptr, 16));

        // Right of the second monitor there is nothing.
        QVERIFY_THROWS_EXCEPTION(actuators::ActuatorError, hands.click({2560, 100}));
    }
};

QTEST_GUILESS_MAIN(MultiMonitorTest)
#include "test_multi_monitor.moc"
