// Model families: each family's coordinate convention, HiDPI scale and out-of-range handling.
#include <QtTest>

#include <cfenv>
#include <cmath>

#include "planner/parser.h"

using namespace deskpilot;
using namespace deskpilot::planner;

namespace {

vision::Point map(const char* family, vision::Size screen, double x, double y, double scale = 1.0) {
    return CoordinateMapper(*find_family(family), screen, scale).map(x, y).pixel;
}

}  // namespace

class FamilyTest : public QObject {
    Q_OBJECT
  private slots:
    void tableListsEveryFamily() {
        for (const char* name :
             {"ui-tars-1.0", "ui-tars-1.5", "qwen2.5-vl", "qwen3-vl", "doubao", "deskpilot-nano"})
            QVERIFY2(find_family(name) != nullptr, name);
        QCOMPARE(find_family("gpt-4o"), nullptr);
        QCOMPARE(all_families().size(), std::size_t{6});
        QVERIFY(QString::fromStdString(family_names()).contains("qwen3-vl"));
    }

    // UI-TARS README_coordinates: (235,512) on 1920×1080 → (451,553).
    void uiTars10IsRelative1000() {
        QCOMPARE(map("ui-tars-1.0", {1920, 1080}, 235, 512), (vision::Point{451, 553}));
    }

    void uiTars15IsAbsoluteOnTheResizedImage() {
        const CoordinateMapper m(*find_family("ui-tars-1.5"), {1920, 1080});
        QCOMPARE(m.model_extent(), (vision::Size{1932, 1092}));
        QCOMPARE(m.map(966, 546).pixel, (vision::Point{960, 540}));
        QCOMPARE(m.map(1931, 1091).pixel, (vision::Point{1919, 1079}));
        // 4K: 3840×2160 → 3836×2156 with the UI-TARS bounds.
        QCOMPARE(CoordinateMapper(*find_family("ui-tars-1.5"), {3840, 2160}).model_extent(),
                 (vision::Size{3836, 2156}));
    }

    void qwen25UsesItsOwnBounds() {
        // A small screen: UI-TARS's minimum (100·28² pixels) enlarges it, Qwen2.5-VL's (3136) does
        // not.
        const CoordinateMapper m(*find_family("qwen2.5-vl"), {200, 150});
        QCOMPARE(m.model_extent(), (vision::Size{196, 140}));
        QCOMPARE(CoordinateMapper(*find_family("ui-tars-1.5"), {200, 150}).model_extent(),
                 vision::smart_resize({200, 150}, vision::kUiTarsResize));
        QVERIFY(CoordinateMapper(*find_family("ui-tars-1.5"), {200, 150}).model_extent().width >
                196);
        QCOMPARE(m.map(98, 70).pixel, (vision::Point{100, 75}));
    }

    // Deskpilot's nano model: absolute pixels of a factor-32 image capped at 640·400 pixels.
    void deskpilotNanoIsAbsoluteOnItsSmallImage() {
        const CoordinateMapper m(*find_family("deskpilot-nano"), {1280, 800});
        QCOMPARE(m.model_image(), (vision::Size{640, 384}));  // 400/32 = 12.5 → floor 12 rows
        QCOMPARE(m.model_extent(), m.model_image());
        QCOMPARE(m.map(320, 192).pixel, (vision::Point{640, 400}));
        QCOMPARE(m.map(0, 0).pixel, (vision::Point{0, 0}));
        // 383·800/384 = 797.92 → 798; 639·2 = 1278.
        QCOMPARE(m.map(639, 383).pixel, (vision::Point{1278, 798}));
        // 100.5·2 = 201 exactly; 101·800/384 = 210.42 → 210.
        QCOMPARE(m.map(100.5, 101).pixel, (vision::Point{201, 210}));
        QVERIFY(m.map(640, 100).out_of_range);
        // Other screens keep their aspect within the cap: 1920×1080 → 672×352.
        const CoordinateMapper hd(*find_family("deskpilot-nano"), {1920, 1080});
        QCOMPARE(hd.model_image(), (vision::Size{672, 352}));
        QCOMPARE(hd.map(336, 176).pixel, (vision::Point{960, 540}));
        // Unlike qwen3-vl (relative 0-1000, no pixel cap) on the same screen.
        QCOMPARE(CoordinateMapper(*find_family("qwen3-vl"), {1280, 800}).model_image(),
                 (vision::Size{1280, 800}));
    }

    // map() skips the division x·W/M away from ties (it multiplies by 1/M and rounds only where
    // that cannot change the result). Every half-pixel model coordinate across the screen, on the
    // families and screens of the golden vectors and a HiDPI scale, must still give exactly the
    // division rounded half to even; among them are exact ties (x.5), where 1/M alone could
    // round the wrong way.
    void mapRoundsExactlyLikeTheDivision() {
        QCOMPARE(std::fegetround(), FE_TONEAREST);  // nearbyint below: half to even
        int ties = 0;
        for (const char* family : {"ui-tars-1.0", "ui-tars-1.5", "qwen2.5-vl", "deskpilot-nano"})
            for (const vision::Size screen :
                 {vision::Size{1920, 1080}, vision::Size{2560, 1440}, vision::Size{1366, 768},
                  vision::Size{3840, 2160}, vision::Size{800, 600}})
                for (const double scale : {1.0, 1.25}) {
                    const CoordinateMapper m(*find_family(family), screen, scale);
                    const vision::Size physical = m.physical_screen();
                    const vision::Size extent = m.model_extent();
                    for (int i = -8; i <= 2 * extent.width + 8; ++i) {
                        const double x = i / 2.0;
                        const double q = x * physical.width / extent.width;
                        ties += q - std::floor(q) == 0.5;
                        const auto expected = static_cast<int>(std::nearbyint(q));
                        if (m.map(x, 0).pixel.x != expected)
                            QFAIL(qPrintable(QString("%1 %2x%3 scale %4: x=%5 maps to %6, not %7")
                                                 .arg(family)
                                                 .arg(screen.width)
                                                 .arg(screen.height)
                                                 .arg(scale)
                                                 .arg(x)
                                                 .arg(m.map(x, 0).pixel.x)
                                                 .arg(expected)));
                    }
                    for (int i = -8; i <= 2 * extent.height + 8; ++i) {
                        const double y = i / 2.0;
                        const double q = y * physical.height / extent.height;
                        ties += q - std::floor(q) == 0.5;
                        QCOMPARE(m.map(0, y).pixel.y, static_cast<int>(std::nearbyint(q)));
                    }
                }
        QVERIFY(ties > 1000);
        // Small screens the resize enlarges, where x·(1/M) misses a tie by an ulp: 4·147/392 is
        // 1.5 exactly (→ 2, the even neighbour) but 4·147·(1/392) is 1.4999999999999998 (→ 1).
        QCOMPARE(map("ui-tars-1.5", {147, 82}, 4, 0), (vision::Point{2, 0}));
        for (const vision::Size screen : {vision::Size{105, 59}, vision::Size{120, 67},
                                          vision::Size{147, 82}, vision::Size{184, 103}}) {
            const CoordinateMapper m(*find_family("ui-tars-1.5"), screen);
            const int width = m.physical_screen().width, extent = m.model_extent().width;
            for (int i = 0; i <= 2 * extent; ++i) {
                const double q = i / 2.0 * width / extent;
                QCOMPARE(m.map(i / 2.0, 0).pixel.x, static_cast<int>(std::nearbyint(q)));
            }
        }
    }

    void qwen3AndDoubaoAreRelative1000() {
        QCOMPARE(map("qwen3-vl", {2560, 1440}, 500, 500), (vision::Point{1280, 720}));
        QCOMPARE(map("doubao", {1366, 768}, 1000, 0), (vision::Point{1366, 0}));
    }

    // A backend pixel cap (the native engine's --max-pixels) shrinks the image the model sees:
    // 1920×1080 under 200704 pixels is 588×336 (the Python smart_resize), and UI-TARS-1.5's
    // pixels map from it. Without the cap the image is 1932×1092.
    void pixelCapShrinksTheResizedImage() {
        const ModelFamily capped = with_pixel_cap(*find_family("ui-tars-1.5"), 200704);
        QCOMPARE(capped.name, find_family("ui-tars-1.5")->name);
        const CoordinateMapper m(capped, {1920, 1080});
        QCOMPARE(m.model_image(), (vision::Size{588, 336}));
        QCOMPARE(m.map(294, 168).pixel, (vision::Point{960, 540}));
        // 587·1920/588 = 1916.73 → 1917; 335·1080/336 = 1076.79 → 1077.
        QCOMPARE(m.map(587, 335).pixel, (vision::Point{1917, 1077}));
        const CoordinateMapper uncapped(with_pixel_cap(*find_family("ui-tars-1.5"), 0),
                                        {1920, 1080});
        QCOMPARE(uncapped.model_image(), (vision::Size{1932, 1092}));
        // A cap above the family's own bound changes nothing.
        QCOMPARE(
            with_pixel_cap(*find_family("ui-tars-1.5"), std::int64_t(1) << 40).resize.max_pixels,
            find_family("ui-tars-1.5")->resize.max_pixels);
    }

    void roundsHalfToEven() {
        // 500/1000·1365 = 682.5 → 682 (Python round), not 683 (Math.round).
        QCOMPARE(map("ui-tars-1.0", {1365, 767}, 500, 500), (vision::Point{682, 384}));
    }

    void scaleMapsToPhysicalPixels() {
        QCOMPARE(map("ui-tars-1.0", {1440, 900}, 500, 500, 2.0), (vision::Point{1440, 900}));
        const CoordinateMapper m(*find_family("ui-tars-1.5"), {1440, 900}, 2.0);
        QCOMPARE(m.physical_screen(), (vision::Size{2880, 1800}));
        QCOMPARE(m.model_image(), vision::smart_resize({2880, 1800}, vision::kUiTarsResize));
        QCOMPARE(map("ui-tars-1.0", {1280, 720}, 1000, 1000, 1.5), (vision::Point{1920, 1080}));
    }

    void outOfRangeIsFlaggedNotMoved() {
        const Step s = parse_step("Action: click(start_box='(1005,-3)')",
                                  CoordinateMapper(*find_family("ui-tars-1.0"), {1920, 1080}));
        QVERIFY(s.actions[0].out_of_range);
        QCOMPARE(*s.actions[0].point, (vision::Point{1930, -3}));
        QCOMPARE(s.warnings.size(), std::size_t{1});
        QVERIFY2(QString::fromStdString(s.warnings[0]).contains("outside the 1920x1080 screen"),
                 s.warnings[0].c_str());
        const Step inside = parse_step("Action: click(start_box='(999,999)')",
                                       CoordinateMapper(*find_family("ui-tars-1.0"), {1920, 1080}));
        QVERIFY(!inside.actions[0].out_of_range);
        QVERIFY(inside.warnings.empty());
    }

    void badScreensAreRejected() {
        const ModelFamily& f = *find_family("ui-tars-1.5");
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, CoordinateMapper(f, {0, 1080}));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, CoordinateMapper(f, {1920, 1080}, 0.0));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 CoordinateMapper(f, {1920, 1080}, std::nan("")));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 CoordinateMapper(f, {1920, 1}));  // aspect ratio > 200
    }
};

QTEST_GUILESS_MAIN(FamilyTest)
#include "test_family.moc"
