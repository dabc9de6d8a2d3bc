// Screen comparison: changed fraction and locating a recorded patch on the live screen.
#include <QtTest>

#include <random>

#include "vision/compare.h"

using namespace deskpilot::vision;

namespace {

// A frame of random blocks (texture so that template matching has something to hold on to).
Frame textured(int w, int h, unsigned seed, int shift_x = 0, int shift_y = 0) {
    Frame f;
    f.width = w;
    f.height = h;
    f.stride = static_cast<std::size_t>(w) * 4;
    auto px = std::make_shared<std::vector<std::uint8_t>>(f.stride * h, 255);
    std::mt19937 rng(seed);
    std::vector<std::uint8_t> blocks(static_cast<std::size_t>((w / 8 + 2) * (h / 8 + 2)));
    for (auto& b : blocks) b = static_cast<std::uint8_t>(rng() & 0xff);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const int sx = x - shift_x, sy = y - shift_y;
            const std::uint8_t v = (sx < 0 || sy < 0) ? 0 : blocks[(sy / 8) * (w / 8 + 2) + sx / 8];
            std::uint8_t* p = px->data() + y * f.stride + 4 * x;
            p[0] = v;
            p[1] = static_cast<std::uint8_t>(v / 2);
            p[2] = static_cast<std::uint8_t>(255 - v);
        }
    f.pixels = px;
    return f;
}

}  // namespace

class CompareTest : public QObject {
    Q_OBJECT
private slots:
    void identicalFramesDoNotDiffer() {
        const auto a = textured(200, 100, 1);
        QCOMPARE(changed_fraction(a, a), 0.0);
    }

    void differentFramesDo() {
        const auto a = textured(200, 100, 1), b = textured(200, 100, 2);
        QVERIFY(changed_fraction(a, b) > 0.5);
        QCOMPARE(changed_fraction(a, textured(100, 100, 1)), 1.0);
    }

    void findsThePatchWhereItWas() {
        const auto a = textured(400, 300, 5);
        const auto m = locate_patch(a, a, {200, 150});
        QVERIFY(m.has_value());
        QCOMPARE(m->found, (Point{200, 150}));
        QVERIFY(m->score > 0.99);
    }

    void followsAPatchThatMoved() {
        const auto recorded = textured(400, 300, 5);
        const auto live = textured(400, 300, 5, 24, -16);
        const auto m = locate_patch(recorded, live, {200, 150});
        QVERIFY(m.has_value());
        QCOMPARE(m->found, (Point{224, 134}));
        QVERIFY(m->score > 0.99);
    }

    void aDifferentScreenScoresLow() {
        const auto m = locate_patch(textured(400, 300, 5), textured(400, 300, 9), {200, 150});
        QVERIFY(m.has_value());
        QVERIFY2(m->score < 0.6, qPrintable(QString::number(m->score)));
    }
};

QTEST_APPLESS_MAIN(CompareTest)
#include "test_compare.moc"
