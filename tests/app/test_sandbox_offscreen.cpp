// deskpilot-sandbox --screenshot without X (QT_QPA_PLATFORM=offscreen): the PNG has the screen's
// size, the window is painted, visible layout rectangles lie inside it, --do steps reach the
// screen (an open menu), and bad steps end in one clear error.
#include <QFile>
#include <QImage>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

#include <nlohmann/json.hpp>

using nlohmann::json;

namespace {

struct Run {
    int exit_code = -1;
    QString stderr_text;
};

Run run_sandbox(const QStringList& args) {
    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("QT_QPA_PLATFORM", "offscreen");
    env.remove("DISPLAY");
    p.setProcessEnvironment(env);
    p.start(QString(DESKPILOT_BIN_DIR) + "/deskpilot-sandbox", args);
    if (!p.waitForFinished(30000)) {
        p.kill();
        p.waitForFinished();
        return {};
    }
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1,
            QString::fromLocal8Bit(p.readAllStandardError())};
}

json read_json(const QString& path) {
    std::ifstream in(path.toStdString());
    return json::parse(in);
}

const json* find_widget(const json& layout, const std::string& name) {
    for (const auto& w : layout.at("widgets"))
        if (w.at("name") == name) return &w;
    return nullptr;
}

bool inside(const json& rect, const QSize& size) {
    const int x = rect[0], y = rect[1], w = rect[2], h = rect[3];
    return x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= size.width() && y + h <= size.height();
}

}  // namespace

class SandboxOffscreenTest : public QObject {
    Q_OBJECT
  private slots:
    void screenshotMatchesGeometryAndLayout() {
        QTemporaryDir dir;
        const QString png = dir.filePath("screen.png"), layout_path = dir.filePath("layout.json");
        const Run r = run_sandbox({"--seed", "5", "--geometry", "1280x800", "--screenshot", png,
                                   "--layout-json", layout_path});
        QVERIFY2(r.exit_code == 0, qPrintable(r.stderr_text));
        const QImage image(png);
        QCOMPARE(image.size(), QSize(1280, 800));
        const json layout = read_json(layout_path);
        // The window fills the screen from its corner, as on a bare X server.
        QCOMPARE(layout.at("window").at("rect"), (json{0, 0, 1280, 800}));
        int visible = 0;
        for (const auto& w : layout.at("widgets")) {
            if (!w.at("visible").get<bool>()) continue;
            ++visible;
            QVERIFY2(inside(w.at("rect"), image.size()), w.dump().c_str());
        }
        QVERIFY(visible > 20);
        // The window is painted: its background is no longer the black of an empty screen,
        // and the swatch shows the colour the layout names.
        QVERIFY(image.pixelColor(640, 790) != QColor(Qt::black));
        const json* swatch = find_widget(layout, "swatch");
        QVERIFY(swatch);
        const auto& sr = swatch->at("rect");
        const QColor centre =
            image.pixelColor(int(sr[0]) + int(sr[2]) / 2, int(sr[1]) + int(sr[3]) / 2);
        QCOMPARE(centre.name().toStdString(), swatch->at("color").get<std::string>());
    }

    void sameSeedSameScreen() {
        QTemporaryDir dir;
        for (const char* name : {"a.png", "b.png"})
            QCOMPARE(run_sandbox({"--seed", "9", "--geometry", "1280x800", "--screenshot",
                                  dir.filePath(name)})
                         .exit_code,
                     0);
        QCOMPARE(QImage(dir.filePath("a.png")), QImage(dir.filePath("b.png")));
    }

    void doStepsOpenAMenuOnTheScreenshot() {
        QTemporaryDir dir;
        const QString png = dir.filePath("menu.png"), layout_path = dir.filePath("layout.json"),
                      state = dir.filePath("state.jsonl");
        const Run r = run_sandbox({"--seed", "10", "--geometry", "1280x800", "--screenshot", png,
                                   "--layout-json", layout_path, "--state", state, "--do",
                                   "click:tab_2", "--do", "click:menu_file"});
        QVERIFY2(r.exit_code == 0, qPrintable(r.stderr_text));
        const json layout = read_json(layout_path);
        const json* save = find_widget(layout, "menu_item:File/Save");
        QVERIFY2(save, "the File menu is not open in the layout");
        const QImage image(png);
        QVERIFY(inside(save->at("rect"), image.size()));
        const json* tab = find_widget(layout, "tab_2");
        QVERIFY(tab && tab->at("selected").get<bool>());
        // The open menu is painted: the screenshot differs from the plain screen there.
        const QString plain = dir.filePath("plain.png");
        QCOMPARE(run_sandbox({"--seed", "10", "--geometry", "1280x800", "--screenshot", plain})
                     .exit_code,
                 0);
        const auto& mr = save->at("rect");
        const QRect menu_rect{mr[0].get<int>(), mr[1].get<int>(), mr[2].get<int>(),
                              mr[3].get<int>()};
        QVERIFY(image.copy(menu_rect) !=
                QImage(plain).convertToFormat(image.format()).copy(menu_rect));
    }

    // scroll:NAME:DIRECTION turns the wheel over the widget as the agent does (5 clicks).
    void scrollStepMovesTheList() {
        QTemporaryDir dir;
        const QString layout_path = dir.filePath("layout.json"), state = dir.filePath("s.jsonl");
        const Run r = run_sandbox({"--seed", "18", "--geometry", "1280x800", "--screenshot",
                                   dir.filePath("x.png"), "--layout-json", layout_path, "--state",
                                   state, "--do", "scroll:list:down"});
        QVERIFY2(r.exit_code == 0, qPrintable(r.stderr_text));
        const json layout = read_json(layout_path);
        QVERIFY(!find_widget(layout, "item_1")->at("visible").get<bool>());
        QFile log(state);
        QVERIFY(log.open(QIODevice::ReadOnly));
        QVERIFY(log.readAll().contains("\"event\":\"scroll\""));
    }

    void badStepsAreRejected_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("message");
        QTest::newRow("unknown verb") << QStringList{"--do", "poke:save"} << "expected click:NAME";
        QTest::newRow("empty argument") << QStringList{"--do", "click:"} << "missing the part";
        QTest::newRow("unknown widget")
            << QStringList{"--do", "click:nope"} << "no widget named 'nope'";
        QTest::newRow("hidden widget")
            << QStringList{"--do", "click:item_100"} << "widget 'item_100' is not visible";
        QTest::newRow("bad key") << QStringList{"--do", "key:ctrl+"} << "is not a key sequence";
        QTest::newRow("bad scroll direction")
            << QStringList{"--do", "scroll:list:sideways"} << "expected scroll:NAME:up|down";
        QTest::newRow("not png") << QStringList{} << "expected a .png";
        QTest::newRow("empty geometry") << QStringList{"--geometry", "0x800"} << "empty size";
        QTest::newRow("do without screenshot")
            << QStringList{"--do", "click:save"} << "--do needs --screenshot";
    }

    void badStepsAreRejected() {
        QFETCH(QStringList, args);
        QFETCH(QString, message);
        QTemporaryDir dir;
        QStringList all = {"--seed", "1", "--geometry", "1280x800"};
        const QString tag = QTest::currentDataTag();
        if (tag == "not png")
            all << "--screenshot" << dir.filePath("x.bmp");
        else if (tag != "do without screenshot")
            all << "--screenshot" << dir.filePath("x.png");
        const Run r = run_sandbox(all + args);
        QCOMPARE(r.exit_code, 2);
        QVERIFY2(r.stderr_text.contains(message), qPrintable(r.stderr_text));
    }
};

QTEST_GUILESS_MAIN(SandboxOffscreenTest)
#include "test_sandbox_offscreen.moc"
