// The deskpilot command line: --help lists every subcommand of DESIGN.md, --version tells
// the build's options, and a subcommand that is not built says so and exits 2.
#include <QProcess>
#include <QtTest>

#include "x11_harness.h"

namespace {

struct Result {
    int code;
    QString out;
    QString err;
};

Result run(const QStringList& args) {
    QProcess p;
    p.start(QString::fromStdString(deskpilot::testing::deskpilot_executable().string()), args);
    p.waitForFinished(30000);
    return {p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()),
            QString::fromUtf8(p.readAllStandardError())};
}

}  // namespace

class CliTest : public QObject {
    Q_OBJECT
  private slots:
    void helpListsEverySubcommand() {
        const Result r = run({"--help"});
        QCOMPARE(r.code, 0);
        for (const char* name : {"run", "replay", "record", "report", "act", "capture", "parse",
                                 "models", "tokenize", "generate", "eval", "panel", "bench"})
            QVERIFY2(r.out.contains(QString("  ") + name), name);
    }

    void versionNamesTheBuildOptions() {
        const Result r = run({"--version"});
        QCOMPARE(r.code, 0);
        QVERIFY(r.out.startsWith("deskpilot 0."));
        QVERIFY(r.out.contains("cuda: on") || r.out.contains("cuda: off"));
    }

    void unbuiltCommandSaysSo() {
        const Result r = run({"bench", "--anything"});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("not built yet"), qPrintable(r.err));
    }

    void unknownCommandIsAUsageError() {
        const Result r = run({"frobnicate"});
        QCOMPARE(r.code, 2);
    }

    void captureWithoutADisplayNamesIt() {
        const Result r = run({"capture", "-o", "/tmp/deskpilot-never.png", "--display", ":4711"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains(":4711"), qPrintable(r.err));
    }

    void captureWritesTheScreen() {
        auto display = deskpilot::testing::start_display(640, 480);
        QTemporaryDir dir;
        const QString out = dir.filePath("screen.png");
        const Result r =
            run({"capture", "-o", out, "--display", QString::fromStdString(display->name())});
        QCOMPARE(r.code, 0);
        QVERIFY2(r.out.contains("640x480"), qPrintable(r.out));
        QVERIFY(QFileInfo(out).size() > 0);
    }
};

QTEST_GUILESS_MAIN(CliTest)
#include "test_cli.moc"
