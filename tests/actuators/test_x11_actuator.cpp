// X11Actuator on a private Xvfb with the real sandbox: every action is checked through what the
// sandbox reports in its --state file, never through our own bookkeeping.
#include <QProcess>
#include <QtTest>

#include "actuators/x11_actuator.h"
#include "vision/screen_source.h"
#include "x11_harness.h"

using namespace deskpilot;
using actuators::MouseButton;
using actuators::ScrollDirection;
using nlohmann::json;

namespace {

constexpr auto kTimeout = std::chrono::milliseconds(8000);

// Matches an event by name and any number of field values.
auto is_event(const std::string& name, json fields = json::object()) {
    return [name, fields](const json& e) {
        if (e.value("event", "") != name) return false;
        for (auto it = fields.begin(); it != fields.end(); ++it)
            if (!e.contains(it.key()) || e.at(it.key()) != it.value()) return false;
        return true;
    };
}

vision::Point centre(agent::SandboxProcess& sandbox, const std::string& widget) {
    const auto rect = sandbox.widget_rect(widget);
    if (!rect) throw std::runtime_error("widget " + widget + " missing from the sandbox layout");
    return rect->center();
}

json widget(const json& layout, const std::string& name) {
    for (const auto& w : layout.at("widgets"))
        if (w.at("name") == name) return w;
    return nullptr;
}

QString run_tool(const QString& program, const QStringList& args) {
    QProcess p;
    p.start(program, args);
    if (!p.waitForFinished(10000) || p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0)
        throw std::runtime_error(
            (program + " " + args.join(' ') + " failed: " + p.readAllStandardError())
                .toStdString());
    return QString::fromUtf8(p.readAllStandardOutput());
}

struct Fixture {
    std::unique_ptr<agent::PrivateDisplay> display = testing::start_display(1280, 800);
    std::unique_ptr<agent::SandboxProcess> sandbox =
        testing::start_sandbox(*display, {.seed = 7, .geometry = vision::Rect{0, 0, 1200, 780}});
    actuators::X11Actuator act{display->name()};
};

}  // namespace

class X11ActuatorTest : public QObject {
    Q_OBJECT
  private slots:
    void clickSave() {
        Fixture f;
        f.act.click(centre(*f.sandbox, "save"));
        QVERIFY(f.sandbox->wait_for_event(is_event("clicked", {{"widget", "save"}}), kTimeout));
        QCOMPARE(f.act.pointer_position(), centre(*f.sandbox, "save"));
    }

    void doubleClickOpensListItem5() {
        Fixture f;
        f.act.click(centre(*f.sandbox, "item_5"), MouseButton::left, 2);
        QVERIFY(f.sandbox->wait_for_event(is_event("opened", {{"widget", "list"}, {"item", 5}}),
                                          kTimeout));
    }

    void rightClickContextMenuAndChooseEntry() {
        Fixture f;
        f.act.click(centre(*f.sandbox, "item_3"), MouseButton::right, 1);
        QVERIFY(f.sandbox->wait_for_event(is_event("context_menu", {{"item", 3}}), kTimeout));
        std::optional<vision::Rect> entry;
        QTRY_VERIFY_WITH_TIMEOUT(
            (entry = f.sandbox->widget_rect("menu_item:List/Rename")).has_value(), 8000);
        f.act.click(entry->center());
        QVERIFY(f.sandbox->wait_for_event(is_event("menu", {{"path", "List/Rename"}, {"item", 3}}),
                                          kTimeout));
    }

    void dragSliderFromTenToNinetyPercent() {
        Fixture f;
        const json s = widget(f.sandbox->layout(), "slider");
        const auto& r = s.at("rect");
        const int x = r.at(0), y = r.at(1), w = r.at(2), h = r.at(3);
        // Qt's Fusion style: the handle is 15 px long (PM_SliderLength) and travels over the
        // rest of the groove; its centre for value v is at this x.
        constexpr int kHandle = 15;
        auto handle_x = [&](int value) { return x + kHandle / 2 + (w - kHandle) * value / 100; };
        const int yc = y + h / 2;
        auto value_now = [&] {
            return widget(f.sandbox->layout(), "slider").at("value").get<int>();
        };
        auto drag_to = [&](int from_value, int to_value) {
            f.act.drag({handle_x(from_value), yc}, {handle_x(to_value), yc});
            QTRY_VERIFY_WITH_TIMEOUT(std::abs(value_now() - to_value) <= 3, 8000);
        };
        drag_to(s.at("value").get<int>(), 10);  // to about 10% first
        drag_to(value_now(), 90);
        // The slider saw intermediate values, not one jump.
        int moves = 0;
        for (const auto& e : f.sandbox->events())
            if (e.value("event", "") == "slider") ++moves;
        QVERIFY2(moves >= 5, std::to_string(moves).c_str());
    }

    void scrollListDownAndUp() {
        Fixture f;
        const auto at = centre(*f.sandbox, "list");
        f.act.scroll(at, ScrollDirection::down, 5);
        QVERIFY(f.sandbox->wait_for_event(
            [](const json& e) {
                return is_event("scroll", {{"widget", "list"}})(e) && e.at("value").get<int>() > 0;
            },
            kTimeout));
        f.act.scroll(at, ScrollDirection::up, 10);
        QVERIFY(f.sandbox->wait_for_event(is_event("scroll", {{"widget", "list"}, {"value", 0}}),
                                          kTimeout));
    }

    void scrollHorizontalAreaRightAndLeft() {
        Fixture f;
        const auto at = centre(*f.sandbox, "hscroll");
        f.act.scroll(at, ScrollDirection::right, 3);
        QVERIFY(f.sandbox->wait_for_event(
            [](const json& e) {
                return is_event("scroll", {{"widget", "hscroll"}})(e) &&
                       e.at("value").get<int>() > 0;
            },
            kTimeout));
        f.act.scroll(at, ScrollDirection::left, 10);
        QVERIFY(f.sandbox->wait_for_event(is_event("scroll", {{"widget", "hscroll"}, {"value", 0}}),
                                          kTimeout));
    }

    void ctrlAThenTypingReplacesText() {
        Fixture f;
        f.act.click(centre(*f.sandbox, "name"));
        f.act.type_text("first draft");
        QVERIFY(f.sandbox->wait_for_event(
            is_event("text", {{"widget", "name"}, {"value", "first draft"}}), kTimeout));
        f.act.hotkey({"ctrl", "a"});
        f.act.type_text("Final");
        QVERIFY(f.sandbox->wait_for_event(
            is_event("text", {{"widget", "name"}, {"value", "Final"}}), kTimeout));
    }

    void newlineTypesReturn() {
        Fixture f;
        f.act.click(centre(*f.sandbox, "name"));
        f.act.type_text("hello\n");
        QVERIFY(f.sandbox->wait_for_event(
            is_event("submitted", {{"widget", "name"}, {"value", "hello"}}), kTimeout));
    }

    void ctrlSShortcut() {
        Fixture f;
        f.act.move(centre(*f.sandbox, "status"));
        f.act.hotkey({"Ctrl", "S"});
        QVERIFY(f.sandbox->wait_for_event(is_event("shortcut", {{"seq", "Ctrl+S"}}), kTimeout));
        QVERIFY(f.sandbox->wait_for_event(is_event("saved", {{"via", "shortcut"}}), kTimeout));
    }

    void unicodeUnderUsAndGermanLayouts() {
        Fixture f;
        const std::string text = "Grüße, 世界 ✓ — naïve café";
        const QString dpy = QString::fromStdString(f.display->name());
        const QString keymap_before = run_tool("xmodmap", {"-display", dpy, "-pke"});
        const QString xkb_before = run_tool("xkbcomp", {"-xkb", dpy, "-"});

        f.act.click(centre(*f.sandbox, "name"));
        f.act.type_text(text);
        QVERIFY(f.sandbox->wait_for_event(is_event("text", {{"widget", "name"}, {"value", text}}),
                                          kTimeout));
        QCOMPARE(run_tool("xmodmap", {"-display", dpy, "-pke"}), keymap_before);
        QCOMPARE(run_tool("xkbcomp", {"-xkb", dpy, "-"}), xkb_before);

        run_tool("setxkbmap", {"-display", dpy, "de"});
        const QString de_before = run_tool("xmodmap", {"-display", dpy, "-pke"});
        QVERIFY(de_before != keymap_before);
        f.act.hotkey({"ctrl", "a"});
        f.act.key("backspace", true);
        f.act.key("backspace", false);
        QVERIFY(f.sandbox->wait_for_event(is_event("text", {{"widget", "name"}, {"value", ""}}),
                                          kTimeout));
        f.act.type_text(text + " zy@");  // z/y swap places and @ needs AltGr under de
        QVERIFY(f.sandbox->wait_for_event(
            is_event("text", {{"widget", "name"}, {"value", text + " zy@"}}), kTimeout));
        QCOMPARE(run_tool("xmodmap", {"-display", dpy, "-pke"}), de_before);
    }

    void namedKeysMissingFromKeymapAreBoundForTheMoment() {
        Fixture f;
        const QString dpy = QString::fromStdString(f.display->name());
        const QString before = run_tool("xmodmap", {"-display", dpy, "-pke"});
        f.act.click(centre(*f.sandbox, "name"));
        // F24 has no key on Xvfb's keyboard: it goes through a spare keycode, then "ü" too.
        f.act.hotkey({"f24"});
        f.act.key("ü", true);
        f.act.key("ü", false);
        QVERIFY(f.sandbox->wait_for_event(is_event("text", {{"widget", "name"}, {"value", "ü"}}),
                                          kTimeout));
        QCOMPARE(run_tool("xmodmap", {"-display", dpy, "-pke"}), before);
    }

    void unknownKeySendsNothing() {
        Fixture f;
        f.act.move(centre(*f.sandbox, "status"));
        try {
            f.act.hotkey({"ctrl", "s", "hyperdrive"});
            QFAIL("expected ActuatorError");
        } catch (const actuators::ActuatorError& e) {
            QVERIFY2(QString(e.what()).contains("hyperdrive"), e.what());
        }
        QVERIFY_THROWS_EXCEPTION(actuators::ActuatorError, f.act.key("Strg", true));
        // Invalid UTF-8 after valid text: nothing of the text is typed.
        f.act.click(centre(*f.sandbox, "name"));
        QVERIFY_THROWS_EXCEPTION(actuators::ActuatorError, f.act.type_text("abc\xff"));
        QVERIFY_THROWS_EXCEPTION(actuators::ActuatorError, f.act.type_text("abc\x01"));
        // A marker action; everything before it in the log would have come from the refused calls.
        f.act.click(centre(*f.sandbox, "save"));
        QVERIFY(f.sandbox->wait_for_event(is_event("clicked", {{"widget", "save"}}), kTimeout));
        for (const auto& e : f.sandbox->events()) {
            QVERIFY2(e.value("event", "") != "shortcut", e.dump().c_str());
            QVERIFY2(e.value("event", "") != "text", e.dump().c_str());
        }
    }

    void offScreenPointSendsNothing() {
        Fixture f;
        const auto start = centre(*f.sandbox, "status");
        f.act.move(start);
        const auto save = centre(*f.sandbox, "save");
        try {
            f.act.click({1280, 400});
            QFAIL("expected ActuatorError");
        } catch (const actuators::ActuatorError& e) {
            QVERIFY2(
                QString(e.what()).contains("(1280,400)") && QString(e.what()).contains("1280x800"),
                e.what());
        }
        QVERIFY_THROWS_EXCEPTION(actuators::ActuatorError, f.act.drag(save, {-1, 10}));
        QVERIFY_THROWS_EXCEPTION(actuators::ActuatorError,
                                 f.act.scroll({10, 900}, ScrollDirection::down, 1));
        QVERIFY_THROWS_EXCEPTION(actuators::ActuatorError, f.act.move({99999, 0}));
        // Counts below one are refused too, before the pointer moves.
        QVERIFY_THROWS_EXCEPTION(actuators::ActuatorError, f.act.click(save, MouseButton::left, 0));
        QVERIFY_THROWS_EXCEPTION(actuators::ActuatorError,
                                 f.act.scroll(save, ScrollDirection::up, 0));
        QVERIFY_THROWS_EXCEPTION(actuators::ActuatorError, f.act.hotkey({}));
        QCOMPARE(f.act.pointer_position(), start);
        f.act.click(save);
        QVERIFY(f.sandbox->wait_for_event(is_event("clicked", {{"widget", "save"}}), kTimeout));
        int clicks = 0;
        for (const auto& e : f.sandbox->events()) clicks += e.value("event", "") == "clicked";
        QCOMPARE(clicks, 1);  // the refused drag pressed nothing on Save
    }

    void missingDisplayIsNamed() {
        try {
            actuators::X11Actuator act(":4713");
            QFAIL("expected DisplayError");
        } catch (const vision::DisplayError& e) {
            QVERIFY2(QString(e.what()).contains(":4713"), e.what());
        }
        qunsetenv("DISPLAY");
        try {
            actuators::X11Actuator act;
            QFAIL("expected DisplayError");
        } catch (const vision::DisplayError& e) {
            QVERIFY2(QString(e.what()).contains("DISPLAY"), e.what());
        }
    }
};

QTEST_GUILESS_MAIN(X11ActuatorTest)
#include "test_x11_actuator.moc"
