// Screen comparison: changed fraction and locating a recorded patch on the live screen.
#include <QtTest>

#include "vision/compare.h"

using namespace deskpilot::vision;

namespace {

// A frame of pseudo-random 8x8 blocks (texture for template matching to hold on to), shifted
// by (shift_x, shift_y): the block at (bx, by) is a hash of its coordinates and the seed.
Frame textured(int w, int h, unsigned seed, int shift_x = 0, int shift_y = 0) {
    Frame f;
    f.width = w;
    f.height = h;
    f.stride = static_cast<std::size_t>(w) * 4;
    auto px = std::make_shared<std::vector<std::uint8_t>>(f.stride * h, 255);
    auto block = [seed](int bx, int by) {
        std::uint32_t v = static_cast<std::uint32_t>(bx) * 73856093u ^
                          static_cast<std::uint32_t>(by) * 19349663u ^ seed * 83492791u;
        v ^= v >> 13;
        v *= 0x5bd1e995u;
        v ^= v >> 15;
        return static_cast<std::uint8_t>(v & 0xff);
    };
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const int sx = x - shift_x + 64,
                      sy = y - shift_y + 64;  // +64 keeps the division floor-like
            const std::uint8_t v = block(sx / 8, sy / 8);
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
