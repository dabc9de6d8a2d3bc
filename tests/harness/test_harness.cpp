// The harness itself: Xvfb comes up on a private display and never outlives a failing,
// aborting or killed test.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>
#include <thread>

#include "x11_harness.h"

using namespace deskpilot;

class HarnessTest : public QObject {
    Q_OBJECT
  private slots:
    void startsPrivateDisplay() {
        auto display = testing::start_display(640, 480);
        QVERIFY(display->running());
        QVERIFY(display->name().rfind(":", 0) == 0);
        QVERIFY(display->number() >= 0);
        const pid_t pid = display->pid();
        display->stop();
        QVERIFY(testing::process_gone(pid));
    }

    void twoDisplaysGetDifferentNumbers() {
        auto a = testing::start_display(320, 240);
        auto b = testing::start_display(320, 240);
        QVERIFY(a->number() != b->number());
    }

    void missingXvfbIsAClearError() {
        try {
            agent::PrivateDisplay display({.program = "deskpilot-no-such-xvfb"});
            QFAIL("expected an error");
        } catch (const agent::ProcessError& e) {
            QVERIFY2(std::string(e.what()).find("deskpilot-no-such-xvfb") != std::string::npos,
                     e.what());
        }
    }

    void noXvfbOutlivesABrokenTest_data() {
        QTest::addColumn<QString>("mode");
        QTest::newRow("failing test") << "fail";
        QTest::newRow("aborting test") << "abort";
        QTest::newRow("killed test") << "hang";
    }

    void noXvfbOutlivesABrokenTest() {
        QFETCH(QString, mode);
        QTemporaryDir dir;
        const QString pidfile = dir.filePath("xvfb.pid");
        QProcess probe;
        probe.start(QString::fromStdString(
                        (testing::bin_dir().parent_path() / "tests/bin/harness_probe").string()),
                    {mode, pidfile});
        QVERIFY(probe.waitForStarted());
        QTRY_VERIFY_WITH_TIMEOUT(QFile::exists(pidfile) && QFileInfo(pidfile).size() > 0, 15000);
        pid_t pid = 0;
        std::ifstream(pidfile.toStdString()) >> pid;
        QVERIFY(pid > 0);
        if (mode == "hang") {
            QVERIFY(!testing::process_gone(pid));
            probe.kill();
        }
        // A fast probe may already have finished while QTRY_ spun the event loop.
        if (probe.state() != QProcess::NotRunning) QVERIFY(probe.waitForFinished(10000));
        QVERIFY(probe.exitStatus() == QProcess::CrashExit || probe.exitCode() != 0);
        QTRY_VERIFY_WITH_TIMEOUT(testing::process_gone(pid), 5000);
    }
};

QTEST_GUILESS_MAIN(HarnessTest)
#include "test_harness.moc"
