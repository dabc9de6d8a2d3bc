// resize, crop and annotation over synthetic frames; no display needed.
#include <QTemporaryDir>
#include <QtTest>

#include "vision/image_ops.h"

using namespace deskpilot::vision;

namespace {

Frame solid(int w, int h, std::uint8_t b, std::uint8_t g, std::uint8_t r, Point origin = {}) {
    Frame f;
    f.width = w;
    f.height = h;
    f.stride = static_cast<std::size_t>(w) * 4;
    f.origin = origin;
    f.monitor = 1;
    auto px = std::make_shared<std::vector<std::uint8_t>>(f.stride * h);
    for (std::size_t i = 0; i < px->size(); i += 4) {
        (*px)[i] = b;
        (*px)[i + 1] = g;
        (*px)[i + 2] = r;
        (*px)[i + 3] = 255;
    }
    f.pixels = px;
    return f;
}

// How many pixels inside `r` (frame pixels) differ from the frame's background colour.
int changed(const Frame& f, Rect r, const Frame& before) {
    int n = 0;
    for (int y = std::max(r.y, 0); y < std::min(r.y + r.height, f.height); ++y)
        for (int x = std::max(r.x, 0); x < std::min(r.x + r.width, f.width); ++x)
            n += std::memcmp(f.pixel(x, y), before.pixel(x, y), 3) != 0;
    return n;
}

}  // namespace

class ImageOpsTest : public QObject {
    Q_OBJECT
  private slots:
    void resizeKeepsColourAndFields() {
        const auto f = solid(1920, 1080, 10, 20, 30, {1920, 0});
        const auto small = resize(f, {960, 540});
        QCOMPARE(small.size(), (Size{960, 540}));
        QCOMPARE(small.stride, std::size_t(960 * 4));
        QCOMPARE(small.monitor, 1);
        QCOMPARE(small.origin, (Point{1920, 0}));
        QCOMPARE(int(small.pixel(480, 270)[2]), 30);
        QCOMPARE(resize(f, {1932, 1092}, Interpolation::cubic).size(), (Size{1932, 1092}));
        QVERIFY_THROWS_EXCEPTION(ImageError, resize(f, {0, 10}));
        QVERIFY_THROWS_EXCEPTION(ImageError, resize(Frame{}, {10, 10}));
    }

    void cropTakesThePartAndClips() {
        auto f = solid(100, 80, 0, 0, 0, {1000, 500});
        auto px = std::make_shared<std::vector<std::uint8_t>>(*f.pixels);
        (*px)[f.stride * 30 + 4 * 40 + 1] = 200;  // one green pixel at (40,30)
        f.pixels = px;
        const auto part = crop(f, {35, 25, 10, 10});
        QCOMPARE(part.size(), (Size{10, 10}));
        QCOMPARE(part.origin, (Point{1035, 525}));
        QCOMPARE(int(part.pixel(5, 5)[1]), 200);
        QCOMPARE(crop(f, {90, 70, 50, 50}).size(), (Size{10, 10}));
        try {
            crop(f, {200, 0, 10, 10});
            QFAIL("expected ImageError");
        } catch (const ImageError& e) {
            QVERIFY2(QString(e.what()).contains("misses the 100x80 frame"), e.what());
        }
    }

    void annotationsDrawWhereTheyPoint() {
        const auto f = solid(800, 600, 240, 240, 240, {100, 100});  // root (100,100) is pixel (0,0)
        // Click at root (300,300) = frame (200,200).
        const auto clicked = annotate(f, {click_marker({300, 300})});
        QVERIFY(changed(clicked, {185, 185, 30, 30}, f) > 30);
        QCOMPARE(changed(clicked, {0, 0, 150, 150}, f), 0);
        QCOMPARE(changed(f, {0, 0, 800, 600}, solid(800, 600, 240, 240, 240)),
                 0);  // source untouched
        // Drag: pixels along the line, none far from it.
        const auto dragged = annotate(f, {drag_arrow({150, 400}, {650, 400})});
        QVERIFY(changed(dragged, {150, 295, 300, 10}, f) > 300);
        QCOMPARE(changed(dragged, {0, 0, 800, 250}, f), 0);
        // Scroll down: the arrow goes below the point, not above.
        const auto scrolled = annotate(f, {scroll_arrow({500, 300}, Annotation::Direction::down)});
        QVERIFY(changed(scrolled, {390, 210, 20, 50}, f) > 20);
        QCOMPARE(changed(scrolled, {390, 100, 20, 80}, f), 0);
        const auto right = annotate(f, {scroll_arrow({500, 300}, Annotation::Direction::right)});
        QVERIFY(changed(right, {410, 190, 50, 20}, f) > 20);
        QCOMPARE(changed(right, {300, 190, 80, 20}, f), 0);
        // Label: a box with text at its top-left corner.
        const auto labelled = annotate(f, {text_label({120, 120}, "click Save")});
        QVERIFY(changed(labelled, {20, 20, 60, 20}, f) > 50);
        QCOMPARE(changed(labelled, {400, 300, 100, 100}, f), 0);
    }
};

QTEST_APPLESS_MAIN(ImageOpsTest)
#include "test_image_ops.moc"
