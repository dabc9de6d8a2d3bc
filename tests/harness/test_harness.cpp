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

    // Xvfb's complaint reaches the error, and its log file is gone before and after the failure.
    void xvfbFailureQuotesItsLog() {
        QTemporaryDir tmp;
        const QByteArray saved = qgetenv("TMPDIR");
        qputenv("TMPDIR", tmp.path().toUtf8());
        std::string error;
        try {
            agent::PrivateDisplay display({.screens = {{64, 64}}, .depth = 7});
        } catch (const agent::ProcessError& e) {
            error = e.what();
        }
        saved.isNull() ? qunsetenv("TMPDIR") : qputenv("TMPDIR", saved);
        QVERIFY2(error.find("Xvfb failed to start") != std::string::npos, error.c_str());
        QVERIFY2(error.find("screen") != std::string::npos, error.c_str());
        QCOMPARE(QDir(tmp.path()).entryList(QDir::NoDotAndDotDot | QDir::AllEntries),
                 QStringList());
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
        QTemporaryDir tmp;  // the probe's TMPDIR: nothing of Xvfb's may stay in it either
        const QString pidfile = dir.filePath("xvfb.pid");
        QProcess probe;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("TMPDIR", tmp.path());
        probe.setProcessEnvironment(env);
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
        QCOMPARE(QDir(tmp.path()).entryList(QDir::NoDotAndDotDot | QDir::AllEntries),
                 QStringList());
    }
};

QTEST_GUILESS_MAIN(HarnessTest)
#include "test_harness.moc"
