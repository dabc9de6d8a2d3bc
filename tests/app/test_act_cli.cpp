// deskpilot act and deskpilot capture --monitor on a private Xvfb with the sandbox: actions
// arrive, and a batch with one bad action performs nothing at all.
#include <QProcess>
#include <QtTest>

#include "vision/image_io.h"
#include "x11_harness.h"

using namespace deskpilot;
using nlohmann::json;

namespace {

struct Result {
    int code;
    QString out;
    QString err;
};

Result run(const QStringList& args, const QString& wayland_display = {}) {
    QProcess p;
    if (!wayland_display.isEmpty()) {
        auto env = QProcessEnvironment::systemEnvironment();
        env.insert("WAYLAND_DISPLAY", wayland_display);
        p.setProcessEnvironment(env);
    }
    p.start(QString::fromStdString(testing::deskpilot_executable().string()), args);
    p.waitForFinished(30000);
    return {p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()),
            QString::fromUtf8(p.readAllStandardError())};
}

QString click_at(const vision::Point& p) {
    return QString::fromStdString(json{{"type", "click"}, {"x", p.x}, {"y", p.y}}.dump());
}

auto clicked(const std::string& widget) {
    return [widget](const json& e) {
        return e.value("event", "") == "clicked" && e.value("widget", "") == widget;
    };
}

int count_clicks(const agent::SandboxProcess& sandbox, const std::string& widget) {
    int n = 0;
    for (const auto& e : sandbox.events()) n += clicked(widget)(e);
    return n;
}

constexpr auto kTimeout = std::chrono::milliseconds(8000);

}  // namespace

class ActCliTest : public QObject {
    Q_OBJECT
  private slots:
    void actionsArriveInTheSandbox() {
        auto display = testing::start_display(1280, 800);
        auto sandbox = testing::start_sandbox(
            *display, {.seed = 5, .geometry = vision::Rect{0, 0, 1200, 780}});
        const auto name = sandbox->widget_rect("name")->center();
        const Result r =
            run({"act", "--display", QString::fromStdString(display->name()),
                 click_at(sandbox->widget_rect("save")->center()), click_at(name),
                 R"({"type":"type","text":"Grüße\n"})", R"({"type":"hotkey","keys":["ctrl","s"]})",
                 R"({"type":"finished","text":"done"})"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY(sandbox->wait_for_event(clicked("save"), kTimeout));
        QVERIFY(sandbox->wait_for_event(
            [](const json& e) {
                return e.value("event", "") == "submitted" && e.value("value", "") == "Grüße";
            },
            kTimeout));
        QVERIFY(sandbox->wait_for_event(
            [](const json& e) { return e.value("event", "") == "shortcut"; }, kTimeout));
        QVERIFY2(r.out.contains("finished"), qPrintable(r.out));
    }

    void oneBadActionPerformsNothing() {
        auto display = testing::start_display(1280, 800);
        auto sandbox = testing::start_sandbox(
            *display, {.seed = 5, .geometry = vision::Rect{0, 0, 1200, 780}});
        const QString dpy = QString::fromStdString(display->name());
        const QString save = click_at(sandbox->widget_rect("save")->center());
        struct Case {
            QString bad;
            int code;
            QString says;
        };
        const std::vector<Case> cases = {
            {"{\"type\":\"click\",\"x\":", 2, "invalid action JSON"},
            {R"({"type":"teleport","x":1,"y":2})", 2, "unknown action type \"teleport\""},
            {R"({"type":"hotkey","keys":["ctrl","hyper"]})", 2, "unknown key name \"hyper\""},
            {R"({"type":"click","x":1280,"y":5})", 2, "(1280,5) lies on no monitor"},
            {R"({"type":"scroll","x":10,"y":10,"direction":"sideways"})", 2, "direction"},
            {R"({"type":"press_home"})", 2, "phone action"},
        };
        for (const auto& c : cases) {
            const Result r = run({"act", "--display", dpy, save, c.bad});
            QVERIFY2(r.code == c.code,
                     qPrintable(c.bad + " -> " + QString::number(r.code) + " " + r.err));
            QVERIFY2(r.err.contains("action 2") && r.err.contains(c.says) &&
                         r.err.contains("nothing was performed"),
                     qPrintable(r.err));
        }
        // --dry-run prints and sends nothing.
        const Result dry = run({"act", "--dry-run", save});
        QCOMPARE(dry.code, 0);
        QVERIFY2(dry.out.contains("dry-run: click left x1 at"), qPrintable(dry.out));
        // A marker: had any refused batch clicked Save, its click would be logged before this one.
        const Result ok =
            run({"act", "--display", dpy, click_at(sandbox->widget_rect("ok")->center())});
        QCOMPARE(ok.code, 0);
        QVERIFY(sandbox->wait_for_event(clicked("ok"), kTimeout));
        QCOMPARE(count_clicks(*sandbox, "save"), 0);
    }

    void noDisplayIsNamed() {
        const Result r = run({"act", "--display", ":4711", R"({"type":"click","x":1,"y":2})"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains(":4711"), qPrintable(r.err));
    }

    void captureOneMonitorAndListThem() {
        auto display = testing::start_display(800, 600);
        const QString dpy = QString::fromStdString(display->name());
        const Result list = run({"capture", "--display", dpy, "--list-monitors"});
        QCOMPARE(list.code, 0);
        QVERIFY2(list.out.contains("800x600+0+0 primary"), qPrintable(list.out));
        QVERIFY(!list.err.contains("XWayland"));
        // Under a Wayland session the user is told that only XWayland windows are reachable.
        const Result wayland = run({"capture", "--display", dpy, "--list-monitors"}, "wayland-0");
        QCOMPARE(wayland.code, 0);
        QVERIFY2(wayland.err.contains("only XWayland windows"), qPrintable(wayland.err));
        QTemporaryDir dir;
        const QString out = dir.filePath("m0.png");
        const Result r =
            run({"capture", "--display", dpy, "--monitor", "0", "--cursor", "-o", out});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QCOMPARE(vision::read_image(out.toStdString()).size(), (vision::Size{800, 600}));
        const Result no_output = run({"capture", "--display", dpy});
        QCOMPARE(no_output.code, 2);
        QVERIFY2(no_output.err.contains("-o FILE"), qPrintable(no_output.err));
        const Result bad = run({"capture", "--display", dpy, "--monitor", "3", "-o", out});
        QCOMPARE(bad.code, 1);
        QVERIFY2(bad.err.contains("no monitor 3"), qPrintable(bad.err));
    }
};

QTEST_GUILESS_MAIN(ActCliTest)
#include "test_act_cli.moc"
