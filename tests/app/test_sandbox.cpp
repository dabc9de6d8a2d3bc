// deskpilot-sandbox on a private Xvfb: ready, layout, seeds, closing, bad arguments.
#include <QProcess>
#include <QtTest>

#include <set>

#include "x11_harness.h"

using namespace deskpilot;
using nlohmann::json;

namespace {

const std::set<std::string> kRequiredWidgets = {
    "menu_file", "menu_edit", "save",    "cancel",  "ok",     "open_dialog", "name",   "notes",
    "agree",     "radio_1",   "radio_2", "radio_3", "combo",  "list",        "slider", "hscroll",
    "swatch",    "tabs",      "tab_1",   "tab_2",   "item_1", "item_100",    "status"};

// name -> [label, rect] for the widgets a person can see.
std::map<std::string, json> visible_widgets(const json& layout) {
    std::map<std::string, json> result;
    for (const auto& w : layout.at("widgets"))
        if (w.at("visible").get<bool>()) result[w.at("name")] = json{w.at("label"), w.at("rect")};
    return result;
}

}  // namespace

class SandboxTest : public QObject {
    Q_OBJECT
  private slots:
    void readyThenLayoutListsEveryWidgetOnScreen() {
        auto display = testing::start_display(1280, 800);
        auto sandbox =
            testing::start_sandbox(*display, {.geometry = vision::Rect{0, 0, 1200, 780}});
        const auto events = sandbox->events();
        QVERIFY(!events.empty());
        QCOMPARE(events.front().at("event").get<std::string>(), std::string("ready"));

        const json layout = sandbox->layout();
        std::set<std::string> names;
        for (const auto& w : layout.at("widgets")) {
            const std::string name = w.at("name");
            names.insert(name);
            QVERIFY2(w.contains("role") && w.contains("label"), name.c_str());
            const auto& r = w.at("rect");
            QVERIFY2(r.at(2).get<int>() > 0 && r.at(3).get<int>() > 0, name.c_str());
            if (!w.at("visible").get<bool>()) continue;
            // A visible widget lies on the screen.
            QVERIFY2(r.at(0).get<int>() >= 0 && r.at(1).get<int>() >= 0, name.c_str());
            QVERIFY2(r.at(0).get<int>() + r.at(2).get<int>() <= 1280, name.c_str());
            QVERIFY2(r.at(1).get<int>() + r.at(3).get<int>() <= 800, name.c_str());
        }
        for (const auto& required : kRequiredWidgets)
            QVERIFY2(names.count(required), ("missing from layout: " + required).c_str());
        // Canonical labels without a seed; the first list items are in view, the last is not.
        for (const auto& w : layout.at("widgets")) {
            if (w.at("name") == "save")
                QCOMPARE(w.at("label").get<std::string>(), std::string("Save"));
            if (w.at("name") == "item_1") QVERIFY(w.at("visible").get<bool>());
            if (w.at("name") == "item_100") QVERIFY(!w.at("visible").get<bool>());
        }
        QCOMPARE(layout.at("window").at("rect"), json({0, 0, 1200, 780}));
    }

    void sameSeedSameLayoutDifferentSeedsDiffer() {
        auto display = testing::start_display(1280, 800);
        auto layout_for = [&](unsigned seed) {
            auto sandbox = testing::start_sandbox(
                *display, {.seed = seed, .geometry = vision::Rect{0, 0, 1200, 780}});
            return visible_widgets(sandbox->layout());
        };
        const auto a = layout_for(7);
        const auto b = layout_for(7);
        const auto c = layout_for(8);
        QVERIFY(a == b);
        QVERIFY(a != c);
        // Seeds vary positions, not only labels.
        int moved = 0;
        for (const auto& [name, entry] : a)
            if (c.count(name) && c.at(name).at(1) != entry.at(1)) ++moved;
        QVERIFY2(moved >= 5, qPrintable(QString("only %1 widgets moved between seeds").arg(moved)));
    }

    void scaleReportsScreenPixels() {
        auto display = testing::start_display(1600, 1000);
        auto sandbox = testing::start_sandbox(
            *display, {.geometry = vision::Rect{0, 0, 1500, 960}, .scale = 1.5});
        const json layout = sandbox->layout();
        QCOMPARE(layout.at("scale").get<double>(), 1.5);
        const auto window = layout.at("window").at("rect");
        QVERIFY(std::abs(window.at(2).get<int>() - 1500) <= 2);
        QVERIFY(std::abs(window.at(3).get<int>() - 960) <= 2);
    }

    void closingTheWindowEndsTheProcess() {
        auto display = testing::start_display(1280, 800);
        auto sandbox =
            testing::start_sandbox(*display, {.geometry = vision::Rect{0, 0, 1200, 780}});
        // As a window manager would close it: WM_DELETE_WINDOW.
        QVERIFY(testing::request_window_close(display->name(), "Deskpilot Sandbox"));
        QVERIFY(sandbox->process().wait_for(std::chrono::seconds(10)));
        const int status = *sandbox->process().wait_status();
        QVERIFY(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        const auto events = sandbox->events();
        QCOMPARE(events.back().at("event").get<std::string>(), std::string("closed"));
    }

    void badArgumentsNameTheInput_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("expected");
        QTest::newRow("geometry") << QStringList{"--geometry", "huge"} << "--geometry 'huge'";
        QTest::newRow("seed") << QStringList{"--seed", "-3"} << "--seed '-3'";
        QTest::newRow("scale") << QStringList{"--scale", "nine"} << "--scale 'nine'";
        QTest::newRow("state") << QStringList{"--state", "/nonexistent-dir/state.jsonl"}
                               << "/nonexistent-dir/state.jsonl";
    }

    void badArgumentsNameTheInput() {
        QFETCH(QStringList, args);
        QFETCH(QString, expected);
        auto display = testing::start_display(320, 240);
        QProcess sandbox;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("DISPLAY", QString::fromStdString(display->name()));
        env.insert("QT_QPA_PLATFORM", "xcb");
        sandbox.setProcessEnvironment(env);
        sandbox.start(QString::fromStdString(testing::sandbox_executable().string()), args);
        QVERIFY(sandbox.waitForFinished(15000));
        QCOMPARE(sandbox.exitCode(), 2);
        const QString err = QString::fromUtf8(sandbox.readAllStandardError());
        QVERIFY2(err.contains(expected), qPrintable(err));
    }
};

QTEST_GUILESS_MAIN(SandboxTest)
#include "test_sandbox.moc"
