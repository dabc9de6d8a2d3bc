// The second look's geometry (the region, the doubled image, the way back) and its question to
// the model (the request with its last image replaced, the answer mapped to the screen). The model
// here is a recording test double: what is under test is what the agent sends and how it reads
// the answer; the real deskpilot-nano on second looks is measured by `deskpilot eval grounding
// --second-look` and checked against transformers by test_engine_nano_checkpoint.
#include <QtTest>

#include "agent/second_look.h"
#include "planner/family.h"
#include "planner/parser.h"
#include "vision/image_ops.h"

using namespace deskpilot;
using namespace deskpilot::agent;

namespace {

// Pixel (x, y) holds B = x mod 256, G = y mod 256, R = (x + y) / 256, A = 255.
vision::Frame gradient(int width, int height) {
    auto pixels = std::make_shared<std::vector<std::uint8_t>>(std::size_t(width) * height * 4);
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
            auto* p = pixels->data() + (std::size_t(y) * width + x) * 4;
            p[0] = std::uint8_t(x % 256);
            p[1] = std::uint8_t(y % 256);
            p[2] = std::uint8_t((x + y) / 256);
            p[3] = 255;
        }
    vision::Frame f;
    f.width = width;
    f.height = height;
    f.stride = std::size_t(width) * 4;
    f.pixels = pixels;
    return f;
}

// Test double: answers from a script and keeps every request it was sent.
class RecordingVlm : public model::Vlm {
  public:
    std::vector<std::string> answers;
    std::vector<planner::Request> requests;
    model::Response generate(const planner::Request& request, const model::GenerateOptions&,
                             const model::TextCallback&, const model::CancelToken&) override {
        requests.push_back(request);
        model::Response r;
        r.text = answers.at(requests.size() - 1);
        r.finish_reason = "stop";
        return r;
    }
    std::string describe() const override { return "recording test double"; }
};

const planner::ModelFamily& nano() {
    return *planner::find_family("deskpilot-nano");
}

planner::Request request_with(std::shared_ptr<const vision::Frame> old_frame,
                              std::shared_ptr<const vision::Frame> last) {
    planner::Request r;
    r.messages.push_back({planner::Role::system, {planner::ContentPart::of_text("sys")}});
    r.messages.push_back(
        {planner::Role::user,
         {planner::ContentPart::of_text("task"), planner::ContentPart::of_image(old_frame)}});
    r.messages.push_back({planner::Role::assistant, {planner::ContentPart::of_text("a")}});
    r.messages.push_back({planner::Role::user, {planner::ContentPart::of_image(last)}});
    return r;
}

}  // namespace

class SecondLookTest : public QObject {
    Q_OBJECT
  private slots:
    void regionIsAQuarterCentredAndKeptOnScreen() {
        const vision::Size screen{1280, 800};
        QCOMPARE(second_look_region({640, 400}, screen), (vision::Rect{320, 200, 640, 400}));
        QCOMPARE(second_look_region({10, 5}, screen), (vision::Rect{0, 0, 640, 400}));
        QCOMPARE(second_look_region({1279, 799}, screen), (vision::Rect{640, 400, 640, 400}));
        QCOMPARE(second_look_region({604, 421}, screen), (vision::Rect{284, 221, 640, 400}));
        // An odd screen: half rounds down, the region still fits.
        QCOMPARE(second_look_region({1365, 0}, {1366, 768}), (vision::Rect{683, 0, 683, 384}));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, second_look_region({0, 0}, {1, 1}));
    }

    void frameDoublesEveryPixelExactly() {
        const vision::Frame screen = gradient(1280, 800);
        const vision::Rect region{284, 221, 640, 400};
        const vision::Frame zoomed = second_look_frame(screen, region);
        QCOMPARE(zoomed.size(), (vision::Size{1280, 800}));
        for (int y = 0; y < zoomed.height; ++y)
            for (int x = 0; x < zoomed.width; ++x) {
                const std::uint8_t* z = zoomed.pixel(x, y);
                const std::uint8_t* s = screen.pixel(region.x + x / 2, region.y + y / 2);
                if (std::memcmp(z, s, 4) != 0)
                    QFAIL(qPrintable(QString("zoomed pixel %1,%2 is not screen pixel %3,%4")
                                         .arg(x)
                                         .arg(y)
                                         .arg(region.x + x / 2)
                                         .arg(region.y + y / 2)));
            }
    }

    void pointsMapBackHalvedIntoTheRegion() {
        const vision::Rect region{284, 221, 640, 400};
        QCOMPARE(from_second_look({0, 0}, region), (vision::Point{284, 221}));
        QCOMPARE(from_second_look({605, 421}, region), (vision::Point{586, 431}));
        QCOMPARE(from_second_look({1279, 799}, region), (vision::Point{923, 620}));
    }

    void onlyOnePointClicksWantIt() {
        const planner::CoordinateMapper mapper(nano(), {1280, 800});
        QVERIFY(
            wants_second_look(planner::parse_step("Action: click(start_box='(10,20)')", mapper)));
        QVERIFY(wants_second_look(
            planner::parse_step("Action: left_double(start_box='(10,20)')", mapper)));
        QVERIFY(!wants_second_look(
            planner::parse_step("Action: drag(start_box='(10,20)', end_box='(30,40)')", mapper)));
        QVERIFY(!wants_second_look(planner::parse_step("Action: type(content='x')", mapper)));
        QVERIFY(!wants_second_look(planner::parse_step("Action: finished(content='x')", mapper)));
        // A point off the image was clamped: there is nothing sound to look around.
        QVERIFY(
            !wants_second_look(planner::parse_step("Action: click(start_box='(900,20)')", mapper)));
    }

    void asksTheSameRequestOnTheZoomedViewAndMapsTheAnswer() {
        const auto screen = std::make_shared<const vision::Frame>(gradient(1280, 800));
        const auto older = std::make_shared<const vision::Frame>(gradient(1280, 800));
        const planner::Request asked = request_with(older, screen);
        const planner::CoordinateMapper mapper(nano(), screen->size());
        const planner::Step first = planner::parse_step(
            "Thought: t\nAction: click(start_box='(302,202)')", mapper);  // screen (604, 421)
        QCOMPARE(*first.actions[0].point, (vision::Point{604, 421}));

        RecordingVlm model;
        model.answers = {"Thought: t\nAction: click(start_box='(303,203)')"};
        model::CancelToken cancel;
        const SecondLook look = look_again(model, asked, *screen, first, nano(), {}, cancel);
        QCOMPARE(look.region, (vision::Rect{284, 221, 640, 400}));
        QVERIFY(look.error.empty());
        // (303, 203) in the 640x384 image of the doubled region: (606, 423) of it, (587, 432).
        QVERIFY(look.point.has_value());
        QCOMPARE(*look.point, (vision::Point{587, 432}));

        // The same conversation; only the last image differs, and it is the doubled region.
        QCOMPARE(model.requests.size(), std::size_t(1));
        const planner::Request& sent = model.requests[0];
        QCOMPARE(sent.messages.size(), asked.messages.size());
        QCOMPARE(sent.messages[1].parts[1].image.get(), older.get());
        QCOMPARE(sent.messages[0].parts[0].text, std::string("sys"));
        const auto& zoomed = *sent.messages[3].parts[0].image;
        QCOMPARE(zoomed.size(), screen->size());
        QVERIFY(std::memcmp(zoomed.pixel(11, 7), screen->pixel(284 + 5, 221 + 3), 4) == 0);

        const planner::Step moved = with_second_look(first, look);
        QCOMPARE(*moved.actions[0].point, (vision::Point{587, 432}));
        QCOMPARE(moved.thought, first.thought);
    }

    void anUnusableSecondAnswerKeepsTheFirstPointAndSaysWhy() {
        const auto screen = std::make_shared<const vision::Frame>(gradient(1280, 800));
        const planner::Request asked = request_with(screen, screen);
        const planner::CoordinateMapper mapper(nano(), screen->size());
        const planner::Step first =
            planner::parse_step("Action: click(start_box='(302,202)')", mapper);
        model::CancelToken cancel;
        const struct {
            const char* answer;
            const char* why;
        } cases[] = {
            {"Action: clik(start_box='(1,2)')", "the second look's answer"},
            {"Action: type(content='hello')", "no action with a position"},
            {"Action: right_single(start_box='(1,2)')", "answered right_single, not click"},
        };
        for (const auto& c : cases) {
            RecordingVlm model;
            model.answers = {c.answer};
            const SecondLook look = look_again(model, asked, *screen, first, nano(), {}, cancel);
            QVERIFY2(!look.point, c.answer);
            QVERIFY2(look.error.find(c.why) != std::string::npos, look.error.c_str());
            QCOMPARE(*with_second_look(first, look).actions[0].point, (vision::Point{604, 421}));
        }
    }

    void aRequestWithoutAnImageIsAnError() {
        planner::Request r;
        r.messages.push_back({planner::Role::user, {planner::ContentPart::of_text("no image")}});
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, with_last_image(r, nullptr));
    }
};

QTEST_APPLESS_MAIN(SecondLookTest)
#include "test_second_look.moc"
