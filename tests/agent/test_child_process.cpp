// agent::ChildProcess: starting, exit statuses, and clear errors for missing programs.
#include <QtTest>

#include "agent/child_process.h"

using namespace deskpilot::agent;

class ChildProcessTest : public QObject {
    Q_OBJECT
  private slots:
    void reportsExitStatus() {
        ChildProcess p({.argv = {"sh", "-c", "exit 3"}});
        QVERIFY(p.wait_for(std::chrono::seconds(5)));
        QCOMPARE(describe_wait_status(*p.wait_status()), std::string("exited with status 3"));
    }

    void terminateEndsAStubbornChild() {
        ChildProcess p({.argv = {"sh", "-c", "trap '' TERM; sleep 30"}});
        QVERIFY(p.running());
        QElapsedTimer t;
        t.start();
        p.terminate(std::chrono::milliseconds(200));
        QVERIFY(!p.running());
        QVERIFY(t.elapsed() < 5000);
    }

    void environmentIsSetAndUnset() {
        QTemporaryDir dir;
        const std::string out = dir.filePath("env.txt").toStdString();
        qputenv("DESKPILOT_TEST_UNSET_ME", "1");
        ChildProcess p(
            {.argv = {"sh", "-c", "echo \"$DESKPILOT_A|${DESKPILOT_TEST_UNSET_ME:-gone}\""},
             .env_set = {{"DESKPILOT_A", "x y"}},
             .env_unset = {"DESKPILOT_TEST_UNSET_ME"},
             .stdout_path = out});
        QVERIFY(p.wait_for(std::chrono::seconds(5)));
        QFile f(QString::fromStdString(out));
        QVERIFY(f.open(QIODevice::ReadOnly));
        QCOMPARE(f.readAll().trimmed(), QByteArray("x y|gone"));
    }

    void missingProgramIsNamed() {
        try {
            ChildProcess p({.argv = {"deskpilot-definitely-missing"}});
            QFAIL("expected ProcessError");
        } catch (const ProcessError& e) {
            QVERIFY2(QString(e.what()).contains("deskpilot-definitely-missing"), e.what());
        }
    }
};

QTEST_GUILESS_MAIN(ChildProcessTest)
#include "test_child_process.moc"
