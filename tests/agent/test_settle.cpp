// Settling: stable screens settle after `quiet`, changing ones run to `max`, stop is prompt.
// The screen here is a ScreenSource whose content changes on a schedule (a real implementation
// of the interface, so the timing logic is tested without an X server; the end-to-end suites
// settle on a real Xvfb).
#include <QElapsedTimer>
#include <QtTest>

#include <atomic>

#include "agent/settle.h"

using namespace deskpilot;
using namespace std::chrono_literals;

namespace {

// The frame's content is the number of whole `period`s elapsed, until `stop_after`.
class ScheduledScreen : public vision::ScreenSource {
  public:
    ScheduledScreen(std::chrono::milliseconds period, std::chrono::milliseconds stop_after)
        : period_(period), stop_after_(stop_after), start_(std::chrono::steady_clock::now()) {}

    vision::Frame capture() override {
        auto elapsed = std::chrono::steady_clock::now() - start_;
        if (elapsed > stop_after_) elapsed = stop_after_;
        const auto tick = static_cast<std::uint8_t>(elapsed / period_);
        vision::Frame f;
        f.width = 64;
        f.height = 64;
        f.stride = 256;
        f.pixels = std::make_shared<std::vector<std::uint8_t>>(
            256 * 64, static_cast<std::uint8_t>(tick * 40));
        return f;
    }
    vision::Size screen_size() override { return {64, 64}; }

  private:
    std::chrono::milliseconds period_, stop_after_;
    std::chrono::steady_clock::time_point start_;
};

}  // namespace

class SettleTest : public QObject {
    Q_OBJECT
  private slots:
    void stableScreenSettlesAfterQuiet() {
        ScheduledScreen screen(1000ms, 0ms);
        const auto r = agent::wait_until_settled(screen, {.quiet = 200ms, .max = 3000ms});
        QVERIFY(r.settled);
        QVERIFY2(r.elapsed_ms >= 200 && r.elapsed_ms < 600,
                 qPrintable(QString::number(r.elapsed_ms)));
    }

    void settlesOnceTheChangesStop() {
        ScheduledScreen screen(60ms, 500ms);
        const auto r = agent::wait_until_settled(screen, {.quiet = 200ms, .max = 3000ms});
        QVERIFY(r.settled);
        QVERIFY2(r.elapsed_ms >= 650 && r.elapsed_ms < 1200,
                 qPrintable(QString::number(r.elapsed_ms)));
    }

    void givesUpAtMax() {
        ScheduledScreen screen(30ms, 60000ms);
        const auto r = agent::wait_until_settled(screen, {.quiet = 200ms, .max = 500ms});
        QVERIFY(!r.settled);
        QVERIFY2(r.elapsed_ms >= 500 && r.elapsed_ms < 900,
                 qPrintable(QString::number(r.elapsed_ms)));
    }

    void stopIsNoticedQuickly() {
        ScheduledScreen screen(30ms, 60000ms);
        QElapsedTimer t;
        t.start();
        const auto r = agent::wait_until_settled(screen, {.quiet = 200ms, .max = 5000ms},
                                                 [&] { return t.elapsed() > 100; });
        QVERIFY(r.cancelled);
        QVERIFY2(t.elapsed() < 200, qPrintable(QString::number(t.elapsed())));
    }

    void waitSeesAChangeOrTimesOut() {
        ScheduledScreen changing(150ms, 60000ms);
        const auto baseline = changing.capture();
        const auto seen = agent::wait_for_change(changing, baseline, 2000ms, 0.001);
        QVERIFY(seen.settled);
        QVERIFY(seen.elapsed_ms < 500);
        ScheduledScreen still(1000ms, 0ms);
        const auto none = agent::wait_for_change(still, still.capture(), 300ms, 0.001);
        QVERIFY(!none.settled);
        QVERIFY(none.elapsed_ms >= 300);
    }
};

QTEST_GUILESS_MAIN(SettleTest)
#include "test_settle.moc"
