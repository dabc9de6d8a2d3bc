// The HTML report: self-contained (images inline, nothing fetched), escaped, every step shown;
// and `deskpilot report` on good and bad folders.
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QUrl>
#include <QtTest>

#include <regex>

#include "agent/report.h"
#include "vision/base64.h"
#include "vision/image_io.h"

using namespace deskpilot;
using namespace deskpilot::agent;

namespace {

vision::Frame grey(int w, int h) {
    vision::Frame f;
    f.width = w;
    f.height = h;
    f.stride = static_cast<std::size_t>(w) * 4;
    f.pixels = std::make_shared<std::vector<std::uint8_t>>(f.stride * h, 200);
    return f;
}

std::filesystem::path make_session(const QTemporaryDir& tmp) {
    const std::filesystem::path dir = tmp.filePath("session").toStdString();
    SessionWriter writer(dir, {.task = "Save <the> form",
                               .model = "ui-tars-1.5-7b",
                               .family = "ui-tars-1.5",
                               .endpoint_host = "127.0.0.1:8000",
                               .screen = {320, 200}});
    StepRecord click{
        .index = 1, .thought = "Click <script>alert(1)</script> Save", .reflection = "looked fine"};
    click.screenshot = writer.write_screenshot(1, grey(320, 200));
    click.actions = nlohmann::json::array({{{"type", "click"}, {"x", 100}, {"y", 50}}});
    click.approvals = {"approved"};
    click.model_ms = 812.0;
    writer.append_step(click);
    StepRecord drag{.index = 2, .thought = "Drag the slider"};
    drag.screenshot = writer.write_screenshot(2, grey(320, 200));
    drag.actions =
        nlohmann::json::array({{{"type", "drag"}, {"x", 10}, {"y", 10}, {"x2", 300}, {"y2", 10}},
                               {{"type", "type"}, {"text", "hi\n"}}});
    writer.append_step(drag);
    writer.finish("finished", "all done");
    return dir;
}

}  // namespace

class ReportTest : public QObject {
    Q_OBJECT
  private slots:
    void base64RoundTrips() {
        const std::vector<std::uint8_t> data = {0, 1, 2, 250, 251, 252, 'M', 'a'};
        for (std::size_t n = 0; n <= data.size(); ++n) {
            const std::vector<std::uint8_t> part(data.begin(), data.begin() + n);
            std::vector<std::uint8_t> back;
            QVERIFY(vision::base64_decode(vision::base64_encode(part), back));
            QCOMPARE(back, part);
        }
        QCOMPARE(vision::base64_encode(std::vector<std::uint8_t>{'M', 'a', 'n'}),
                 std::string("TWFu"));
        std::vector<std::uint8_t> out;
        QVERIFY(!vision::base64_decode("TW=u", out));
        QVERIFY(!vision::base64_decode("TWF", out));
        QVERIFY(!vision::base64_decode("T*Fu", out));
    }

    void reportIsSelfContainedAndEscaped() {
        QTemporaryDir tmp;
        const auto dir = make_session(tmp);
        const std::string html = render_report(load_session(dir));
        QVERIFY(html.find("Save &lt;the&gt; form") != std::string::npos);
        QVERIFY(html.find("<script>") == std::string::npos);
        QVERIFY(html.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
        // Nothing is fetched: no external URLs of any kind, every image is inline.
        QVERIFY(!std::regex_search(html, std::regex("(src|href)=['\"](https?:|//)")));
        const std::regex inline_png("href='data:image/png;base64,");
        const auto images = std::distance(
            std::sregex_iterator(html.begin(), html.end(), inline_png), std::sregex_iterator());
        QCOMPARE(images, 2);
        // Both steps, their actions drawn (a marker at the click, an arrow for the drag).
        QVERIFY(html.find("id='step-1'") != std::string::npos &&
                html.find("id='step-2'") != std::string::npos);
        QVERIFY(html.find("<circle cx='100' cy='50'") != std::string::npos);
        QVERIFY(html.find("<line x1='10' y1='10' x2='300' y2='10'") != std::string::npos);
        QVERIFY(html.find("812") != std::string::npos);
        QVERIFY(html.find("all done") != std::string::npos);
    }

    void missingScreenshotIsShownNotFatal() {
        QTemporaryDir tmp;
        const auto dir = make_session(tmp);
        std::filesystem::remove(dir / "screenshots/000002.png");
        const std::string html = render_report(load_session(dir));
        QVERIFY(html.find("screenshots/000002.png is missing") != std::string::npos);
    }

    void opensInHeadlessChromium() {
        const QString chromium = QStandardPaths::findExecutable("chromium");
        if (chromium.isEmpty())
            QSKIP("chromium is not installed (tools/install-deps.sh installs it)");
        QTemporaryDir tmp;
        const auto dir = make_session(tmp);
        const auto report = dir / "report.html";
        write_report(load_session(dir), report);
        const QStringList common = {"--headless=new",
                                    "--no-sandbox",
                                    "--disable-gpu",
                                    "--hide-scrollbars",
                                    "--user-data-dir=" + tmp.filePath("profile"),
                                    "--window-size=1280,1400"};
        // The DOM as the browser built it holds both steps and their drawn actions.
        QProcess dom;
        dom.start(chromium,
                  QStringList(common)
                      << "--dump-dom"
                      << QUrl::fromLocalFile(QString::fromStdString(report.string())).toString());
        QVERIFY(dom.waitForFinished(60000));
        const QByteArray html = dom.readAllStandardOutput();
        QVERIFY2(html.contains("id=\"step-1\"") && html.contains("id=\"step-2\""),
                 html.left(400).constData());
        QVERIFY(html.contains("<circle"));
        // And its screenshot shows them: the dark header, and the red action marker drawn over
        // the grey screenshot of step 1.
        const QString shot = tmp.filePath("report.png");
        QProcess screenshot;
        screenshot.start(
            chromium,
            QStringList(common)
                << "--screenshot=" + shot
                << QUrl::fromLocalFile(QString::fromStdString(report.string())).toString());
        QVERIFY(screenshot.waitForFinished(60000));
        const auto frame = vision::read_image(shot.toStdString());
        QCOMPARE(frame.width, 1280);
        const auto* header = frame.pixel(5, 5);
        QVERIFY(header[2] < 60 && header[1] < 60 && header[0] < 80);
        int red = 0;
        for (int y = 0; y < frame.height; ++y)
            for (int x = 0; x < frame.width; ++x) {
                const auto* p = frame.pixel(x, y);
                if (p[2] > 200 && p[1] < 100 && p[0] < 100) ++red;
            }
        QVERIFY2(red > 50, qPrintable(QString("%1 red pixels").arg(red)));
        QFile::copy(shot, QString(DESKPILOT_BIN_DIR) +
                              "/../report-screenshot.png");  // for people to look at
    }

    void cliWritesTheReportAndNamesBadFolders() {
        QTemporaryDir tmp;
        const auto dir = make_session(tmp);
        const QString exe = QString(DESKPILOT_BIN_DIR) + "/deskpilot";
        QProcess ok;
        ok.start(exe, {"report", QString::fromStdString(dir.string())});
        QVERIFY(ok.waitForFinished(20000));
        QCOMPARE(ok.exitCode(), 0);
        QVERIFY(std::filesystem::file_size(dir / "report.html") > 1000);

        QProcess bad;
        bad.start(exe, {"report", tmp.filePath("nowhere")});
        QVERIFY(bad.waitForFinished(20000));
        QCOMPARE(bad.exitCode(), 1);
        QVERIFY2(bad.readAllStandardError().contains("nowhere/manifest.json: not found"),
                 "error names the manifest");
    }
};

QTEST_GUILESS_MAIN(ReportTest)
#include "test_report.moc"
