// `deskpilot run` as a user runs it (label x11): against the loopback scripted model on a
// private Xvfb with the sandbox. Exit statuses, Ctrl+C, the model check, and the API key never
// reaching the output or the session.
#include <QProcess>
#include <QtTest>

#include <signal.h>

#include <fstream>
#include <sstream>

#include "form_task.h"

using namespace deskpilot;
using namespace deskpilot::testing;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const char* kSecret = "sk-deskpilot-test-secret-4711";

struct Run {
    int code = -1;
    QString out, err;
};

QStringList base_args(AgentStack& s, const QString& session) {
    return {"run",
            "--task",
            "Fill in the form",
            "--endpoint",
            QString::fromStdString(s.server->base_url()),
            "--model",
            "ui-tars-1.5-7b",
            "--display",
            QString::fromStdString(s.display->name()),
            "--session",
            session};
}

Run run_cli(const QStringList& args,
            const QProcessEnvironment& env = QProcessEnvironment::systemEnvironment()) {
    QProcess p;
    p.setProcessEnvironment(env);
    p.start(QString::fromStdString(deskpilot_executable().string()), args);
    p.closeWriteChannel();  // no one at the terminal
    p.waitForFinished(120000);
    return {p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()),
            QString::fromUtf8(p.readAllStandardError())};
}

std::string read_tree(const std::filesystem::path& dir) {
    std::string all;
    for (const auto& f : std::filesystem::recursive_directory_iterator(dir)) {
        if (!f.is_regular_file()) continue;
        std::ifstream in(f.path(), std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        all += ss.str();
    }
    return all;
}

}  // namespace

class RunCliTest : public QObject {
    Q_OBJECT
  private slots:
    void finishesWithStatusZeroAndKeepsTheKeySecret() {
        AgentStack s;
        s.server->set_api_key(kSecret);
        s.server->set_handler([&](const RecordedRequest& r) { return form_task_reply(s, r); });
        const QString session = s.sessions.filePath("ok");
        auto env = QProcessEnvironment::systemEnvironment();
        env.insert("DESKPILOT_TEST_KEY", kSecret);
        const Run r = run_cli(base_args(s, session) << "--api-key-env"
                                                    << "DESKPILOT_TEST_KEY",
                              env);
        QVERIFY2(r.code == 0, qPrintable(r.out + r.err));
        QVERIFY(r.out.contains("Ada Lovelace"));  // thoughts and actions printed as they go
        QVERIFY(r.out.contains("finished: Form filled and saved"));
        QVERIFY2(form_task_done(*s.sandbox).empty(), form_task_done(*s.sandbox).c_str());
        // The key went to the server and nowhere else.
        QCOMPARE(QString::fromStdString(s.server->chat_requests().front().header("authorization")),
                 QString("Bearer ") + kSecret);
        QVERIFY(!r.out.contains(kSecret) && !r.err.contains(kSecret));
        QVERIFY(read_tree(session.toStdString()).find(kSecret) == std::string::npos);
        const auto manifest = agent::load_session(session.toStdString()).manifest;
        QCOMPARE(manifest.endpoint_host, "127.0.0.1:" + std::to_string(s.server->port()));
        QVERIFY(!manifest.monitors.empty());
    }

    void maxStepsIsStatusFive() {
        AgentStack s;
        s.server->set_handler([&](const RecordedRequest& r) { return form_task_reply(s, r); });
        const Run r = run_cli(base_args(s, s.sessions.filePath("max")) << "--max-steps"
                                                                       << "2");
        QCOMPARE(r.code, 5);
        QCOMPARE(agent::load_session(s.sessions.filePath("max").toStdString()).steps.size(),
                 std::size_t(2));
    }

    void unansweredCallUserIsStatusFour() {
        AgentStack s;
        s.server->set_default(
            ScriptedReply::answer("Thought: Which name should I use?\nAction: call_user()"));
        const Run r =
            run_cli(base_args(s, s.sessions.filePath("ask")));  // stdin is closed: nobody answers
        QVERIFY2(r.code == 4, qPrintable(QString::number(r.code) + r.out + r.err));
        QVERIFY(r.out.contains("Which name should I use?"));
        QCOMPARE(agent::load_session(s.sessions.filePath("ask").toStdString()).manifest.status,
                 std::string("call_user"));
    }

    void unknownModelIsNamedBeforeAnythingHappens() {
        AgentStack s;
        s.server->set_models({"ui-tars-1.5-7b", "qwen3-vl"});
        QStringList args = base_args(s, s.sessions.filePath("m"));
        args[args.indexOf("ui-tars-1.5-7b")] = "ui-tars-72b";
        const Run r = run_cli(args);
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("ui-tars-72b") && r.err.contains("qwen3-vl"), qPrintable(r.err));
        QCOMPARE(s.server->chat_requests().size(), std::size_t(0));
        QVERIFY(s.sandbox->events().size() == 1);  // only "ready": nothing was done
    }

    void nativeEngineRunsInProcess() {
        // The tiny random Qwen3-VL-MoE answers nonsense, but the whole path runs: screenshot →
        // NativeVlm → planner → (dry-run) actuator, with no server involved.
        AgentStack s;
        const QString session = s.sessions.filePath("native");
        const QString tiny = QString(DESKPILOT_TEST_DATA_DIR) + "/engine/qwen3_vl_moe_vision_tiny";
        const Run r = run_cli({"run", "--task", "Fill in the form", "--model-dir", tiny,
                               "--display", QString::fromStdString(s.display->name()), "--session",
                               session, "--dry-run", "--max-steps", "1", "--max-pixels", "65536"});
        QVERIFY2(r.code != 2, qPrintable(r.out + r.err));
        QVERIFY2(r.err.contains("native qwen3_vl_moe"), qPrintable(r.err));
        QCOMPARE(s.server->chat_requests().size(), std::size_t(0));
        const auto manifest = agent::load_session(session.toStdString()).manifest;
        QVERIFY2(QString::fromStdString(manifest.model).contains("native qwen3_vl_moe"),
                 manifest.model.c_str());
        QVERIFY(manifest.endpoint_host.empty());
        QVERIFY(s.sandbox->events().size() == 1);  // dry run: nothing was done
    }

    void nativeQwen25RunsAsUiTars() {
        // A qwen2_5_vl folder (UI-TARS-1.5's architecture) runs in-process with the ui-tars-1.5
        // family by default; its window-attention tower sees the full-size screenshot.
        AgentStack s;
        const QString session = s.sessions.filePath("native25");
        const QString tiny = QString(DESKPILOT_TEST_DATA_DIR) + "/engine/qwen2_5_vl_tiny";
        const Run r = run_cli({"run", "--task", "Fill in the form", "--model-dir", tiny,
                               "--display", QString::fromStdString(s.display->name()), "--session",
                               session, "--dry-run", "--max-steps", "1"});
        QVERIFY2(r.code != 2, qPrintable(r.out + r.err));
        QVERIFY2(r.err.contains("native qwen2_5_vl"), qPrintable(r.err));
        QCOMPARE(s.server->chat_requests().size(), std::size_t(0));
        const auto manifest = agent::load_session(session.toStdString()).manifest;
        QCOMPARE(manifest.family, std::string("ui-tars-1.5"));
        QVERIFY(s.sandbox->events().size() == 1);  // dry run: nothing was done
    }

    void pixelCapBelowTheFamilyMinimumIsAUsageError() {
        // UI-TARS-1.5's images have at least 100·28² pixels; a smaller cap cannot be honoured.
        AgentStack s;
        const QString tiny = QString(DESKPILOT_TEST_DATA_DIR) + "/engine/qwen2_5_vl_tiny";
        const Run r =
            run_cli({"run", "--task", "x", "--model-dir", tiny, "--display",
                     QString::fromStdString(s.display->name()), "--session",
                     s.sessions.filePath("capped"), "--dry-run", "--max-pixels", "65536"});
        QCOMPARE(r.code, 2);
        QVERIFY2(
            r.err.contains("--max-pixels: a pixel cap of 65536") && r.err.contains("ui-tars-1.5"),
            qPrintable(r.err));
        QCOMPARE(s.sandbox->events().size(), std::size_t(1));
    }

    void missingModelFolderIsAnError() {
        AgentStack s;
        const Run r = run_cli({"run", "--task", "x", "--model-dir", "/nonexistent/model",
                               "--display", QString::fromStdString(s.display->name()), "--session",
                               s.sessions.filePath("none")});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("/nonexistent/model: no such model folder"), qPrintable(r.err));
    }

    // --coordinate-window reaches the engine: a model that writes numbers digit by digit cannot
    // read coordinates that way, and says so before the run starts; a negative one is usage.
    void coordinateWindowOnADigitModelIsAnError() {
        AgentStack s;
        const QString tiny = QString(DESKPILOT_TEST_DATA_DIR) + "/engine/qwen3_vl_moe_vision_tiny";
        const QStringList base = {"run",
                                  "--task",
                                  "x",
                                  "--model-dir",
                                  tiny,
                                  "--display",
                                  QString::fromStdString(s.display->name()),
                                  "--session",
                                  s.sessions.filePath("windowed"),
                                  "--dry-run"};
        const Run r = run_cli(base + QStringList{"--coordinate-window", "16"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains(tiny + ": a coordinate window needs a tokenizer with one token "
                                       "per number"),
                 qPrintable(r.err));
        QVERIFY(!QFile::exists(s.sessions.filePath("windowed")));
        QCOMPARE(run_cli(base + QStringList{"--coordinate-window", "-1"}).code, 2);
        QCOMPARE(s.sandbox->events().size(), std::size_t(1));
    }

    void badArgumentsAreUsageErrors_data() {
        QTest::addColumn<QStringList>("extra");
        QTest::addColumn<QString>("expected");
        QTest::newRow("family") << QStringList{"--family", "gpt-9"} << "gpt-9";
        QTest::newRow("approve") << QStringList{"--approve", "sometimes"} << "sometimes";
        QTest::newRow("region") << QStringList{"--deny-region", "1,2,3"} << "1,2,3";
        QTest::newRow("model dir") << QStringList{"--model-dir", "/nonexistent"} << "native engine";
        QTest::newRow("action grammar on an endpoint")
            << QStringList{"--action-grammar", "on"} << "--action-grammar needs --model-dir";
    }

    void badArgumentsAreUsageErrors() {
        QFETCH(QStringList, extra);
        QFETCH(QString, expected);
        AgentStack s;
        const Run r = run_cli(base_args(s, s.sessions.filePath("bad")) << extra);
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains(expected), qPrintable(r.err));
    }

    void missingDisplayIsNamed() {
        AgentStack s;
        QStringList args = base_args(s, s.sessions.filePath("d"));
        args[args.indexOf("--display") + 1] = ":4713";
        const Run r = run_cli(args);
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains(":4713"), qPrintable(r.err));
    }

    void ctrlCStopsCleanlyWithStatusSix() {
        AgentStack s;
        auto slow = ScriptedReply::answer("Thought: slow\nAction: wait()");
        slow.delay = 30s;
        s.server->set_default(slow);
        const QString session = s.sessions.filePath("int");
        QProcess p;
        p.start(QString::fromStdString(deskpilot_executable().string()), base_args(s, session));
        // Wait for the chat request itself (the model check before it is a request too).
        QTRY_VERIFY_WITH_TIMEOUT(!s.server->chat_requests().empty(), 20000);
        ::kill(static_cast<pid_t>(p.processId()), SIGINT);
        QVERIFY(p.waitForFinished(5000));
        QVERIFY2(p.exitCode() == 6,
                 qPrintable(QString::number(p.exitCode()) + p.readAllStandardOutput() +
                            p.readAllStandardError()));
        QCOMPARE(agent::load_session(session.toStdString()).manifest.status,
                 std::string("stopped"));
    }
};

QTEST_GUILESS_MAIN(RunCliTest)
#include "test_run_cli.moc"
