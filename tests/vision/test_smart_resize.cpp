// smart_resize against the sizes the Python processors give (REFERENCE.md section 1).
#include <QtTest>

#include "vision/smart_resize.h"

using namespace deskpilot::vision;

Q_DECLARE_METATYPE(deskpilot::vision::SmartResizeParams)

class SmartResizeTest : public QObject {
    Q_OBJECT
  private slots:
    void roundsHalfToEven() {
        QCOMPARE(round_half_even(2.5), 2.0);
        QCOMPARE(round_half_even(3.5), 4.0);
        QCOMPARE(round_half_even(-2.5), -2.0);
        QCOMPARE(round_half_even(2.6), 3.0);
    }

    void knownSizes_data() {
        QTest::addColumn<int>("w");
        QTest::addColumn<int>("h");
        QTest::addColumn<SmartResizeParams>("params");
        QTest::addColumn<int>("ew");
        QTest::addColumn<int>("eh");
        QTest::newRow("1920x1080 ui-tars") << 1920 << 1080 << kUiTarsResize << 1932 << 1092;
        QTest::newRow("2560x1440 ui-tars") << 2560 << 1440 << kUiTarsResize << 2548 << 1428;
        QTest::newRow("3840x2160 ui-tars") << 3840 << 2160 << kUiTarsResize << 3836 << 2156;
        QTest::newRow("1920x1080 qwen2.5") << 1920 << 1080 << kQwen25VlResize << 1932 << 1092;
        QTest::newRow("1920x1080 qwen3") << 1920 << 1080 << kQwen3VlResize << 1920 << 1088;
        QTest::newRow("exact multiples") << 420 << 700 << kQwen25VlResize << 420 << 700;
        QTest::newRow("tiny grows to min") << 10 << 10 << kQwen25VlResize << 56 << 56;
    }

    void knownSizes() {
        QFETCH(int, w);
        QFETCH(int, h);
        QFETCH(SmartResizeParams, params);
        QFETCH(int, ew);
        QFETCH(int, eh);
        const Size s = smart_resize({w, h}, params);
        QCOMPARE(s.width, ew);
        QCOMPARE(s.height, eh);
        QCOMPARE(s.width % params.factor, 0);
        QCOMPARE(s.height % params.factor, 0);
    }

    void halfwayCaseFollowsPython() {
        // 70 / 28 = 2.5 exactly: Python's round gives 2 (-> 56), Math.round would give 3 (-> 84).
        const Size s = smart_resize({70 * 40, 70}, {28, 0, 0, 200.0});
        QCOMPARE(s.height, 56);
    }

    void extremeAspectIsRejected() {
        QVERIFY_THROWS_EXCEPTION(ResizeError, smart_resize({20100, 100}, kUiTarsResize));
        QVERIFY_THROWS_EXCEPTION(ResizeError, smart_resize({0, 100}, kUiTarsResize));
    }
};

QTEST_APPLESS_MAIN(SmartResizeTest)
#include "test_smart_resize.moc"
