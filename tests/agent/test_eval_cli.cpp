// `deskpilot eval` as a user runs it (label x11: it starts its own private Xvfb displays),
// against the loopback scripted model; and its answers to bad input.
#include <QProcess>
#include <QtTest>

#include <fstream>

#include "agent_fixture.h"

using namespace deskpilot;
using namespace deskpilot::testing;
using nlohmann::json;

namespace {

struct Run {
    int code = -1;
    QString out, err;
};

Run run_cli(const QStringList& args) {
    QProcess p;
    p.start(QString::fromStdString(deskpilot_executable().string()), args);
    p.closeWriteChannel();
    p.waitForFinished(180000);
    return {p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()),
            QString::fromUtf8(p.readAllStandardError())};
}

json read_json(const QString& path) {
    std::ifstream in(path.toStdString());
    return json::parse(in);
}

// `deskpilot eval tasks` on the suite's shortcut-save task against `server`, results to `out`.
Run run_shortcut_save(const OpenAiServer& server, const QString& out, const QStringList& extra) {
    return run_cli(QStringList{"eval", "tasks", "--endpoint",
                               QString::fromStdString(server.base_url()), "--model",
                               "ui-tars-1.5-7b", "--task", "shortcut-save", "-o", out} +
                   extra);
}

}  // namespace

class EvalCliTest : public QObject {
    Q_OBJECT
  private slots:
    void groundingWritesResultsTableAndScreenshots() {
        OpenAiServer server;
        server.set_default(
            ScriptedReply::answer("Action: click(start_box='<|box_start|>(640,790)<|box_end|>')"));
        QTemporaryDir dir;
        const QString out = dir.filePath("g.json");
        const Run r =
            run_cli({"eval", "grounding", "--endpoint", QString::fromStdString(server.base_url()),
                     "--model", "ui-tars-1.5-7b", "--family", "ui-tars-1.5", "--seeds", "3..4",
                     "--jobs", "2", "-o", out});
        QVERIFY2(r.code == 0, qPrintable(r.out + r.err));
        const json results = read_json(out);
        QCOMPARE(results["items"].size(), std::size_t(2));
        QCOMPARE(results["summary"]["overall"]["targets"].get<int>(), 2 * 9);
        for (const auto& item : results["items"])
            QVERIFY(std::filesystem::exists(results["out_dir"].get<std::string>() + "/" +
                                            item["screenshot"].get<std::string>()));
        QVERIFY(QFile::exists(dir.filePath("g.md")));
        QVERIFY2(r.out.contains("| **all** | 18 |"), qPrintable(r.out));
        QCOMPARE(server.chat_requests().size(), std::size_t(18));
    }

    void tasksRunTheAgentAndKeepSessions() {
        OpenAiServer server;
        server.set_handler([](const RecordedRequest& r) {
            return ScriptedReply::answer(assistant_turns(r) == 0
                                             ? "Thought: Save.\nAction: hotkey(key='ctrl s')"
                                             : "Thought: Done.\nAction: finished(content='saved')");
        });
        QTemporaryDir dir;
        const QString out = dir.filePath("t.json");
        const Run r =
            run_cli({"eval", "tasks", "--endpoint", QString::fromStdString(server.base_url()),
                     "--model", "ui-tars-1.5-7b", "--task", "shortcut-save", "--task", "tick-agree",
                     "--repeat", "2", "-o", out});
        QVERIFY2(r.code == 0, qPrintable(r.out + r.err));
        const json results = read_json(out);
        QCOMPARE(results["items"].size(), std::size_t(4));
        QCOMPARE(results["summary"]["by_task"]["shortcut-save"]["success_rate"].get<double>(), 1.0);
        QCOMPARE(results["summary"]["by_task"]["tick-agree"]["success_rate"].get<double>(), 0.0);
        QCOMPARE(results["summary"]["success_rate_per_repeat"], json({0.5, 0.5}));
        for (const auto& item : results["items"])
            QVERIFY(std::filesystem::exists(results["out_dir"].get<std::string>() + "/" +
                                            item["session"].get<std::string>() + "/steps.jsonl"));
        const std::string engine = results.value("engine", std::string());
        QVERIFY2(engine.rfind("remote ui-tars-1.5-7b @ 127.0.0.1", 0) == 0,
                 engine.c_str());  // the model as asked
    }

    // With an endpoint, --coordinate-window asks for the top_logprobs it reads coordinates from;
    // a server that sends none leaves the answers as written and says so once a call.
    void coordinateWindowReachesTheEndpoint() {
        OpenAiServer server;
        server.set_handler([](const RecordedRequest&) {
            return ScriptedReply::answer("Thought: Save.\nAction: hotkey(key='ctrl s')");
        });
        QTemporaryDir dir;
        const QString out = dir.filePath("t.json");
        const Run r = run_shortcut_save(server, out, {"--coordinate-window", "16"});
        QVERIFY2(r.code == 0, qPrintable(r.out + r.err));
        const auto requests = server.chat_requests();
        QVERIFY(!requests.empty());
        QCOMPARE(requests[0].json["logprobs"].get<bool>(), true);
        QCOMPARE(requests[0].json["top_logprobs"].get<int>(), 20);
        QVERIFY2(r.err.contains("sent no logprobs"), qPrintable(r.err));
        const std::string engine = read_json(out).value("engine", std::string());
        QVERIFY2(engine.rfind("remote ui-tars-1.5-7b @ 127.0.0.1", 0) == 0 &&
                     engine.find(", coordinate window 16") != std::string::npos,
                 engine.c_str());
    }

    void groundingRunsOnTheNativeEngine() {
        // The tiny random Qwen3-VL-MoE answers nonsense, so accuracy is whatever it is; what is
        // checked is that the in-process engine is driven through the whole suite.
        const QString tiny = QString(DESKPILOT_TEST_DATA_DIR) + "/engine/qwen3_vl_moe_vision_tiny";
        QTemporaryDir dir;
        const QString out = dir.filePath("native.json");
        const Run r =
            run_cli({"eval", "grounding", "--model-dir", tiny, "--seeds", "2", "-o", out});
        QVERIFY2(r.code == 0, qPrintable(r.out + r.err));
        QFile f(out);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const auto results = nlohmann::json::parse(f.readAll().toStdString());
        QVERIFY2(results.dump().find("qwen3-vl") != std::string::npos,
                 results.dump().substr(0, 300).c_str());
        QVERIFY(results.dump().find("qwen3_vl_moe_vision_tiny") != std::string::npos);
        // The engine as it was loaded is recorded, in the JSON and the table.
        const std::string engine = results.value("engine", std::string());
        QVERIFY2(engine.find("native qwen3_vl_moe @ ") == 0 &&
                     engine.find("threads") != std::string::npos,
                 engine.c_str());
        QFile md(dir.filePath("native.md"));
        QVERIFY(md.open(QIODevice::ReadOnly));
        QVERIFY(md.readAll().contains(QByteArray::fromStdString(engine)));
    }

    // --task-seed-offset runs the same tasks on other screens (a held-out copy of the suite):
    // the text's labels are the new screen's, the seed is recorded per item and in the results.
    void taskSeedOffsetMovesEveryTask() {
        OpenAiServer server;
        server.set_handler([](const RecordedRequest& r) {
            return ScriptedReply::answer(assistant_turns(r) == 0
                                             ? "Thought: Save.\nAction: hotkey(key='ctrl s')"
                                             : "Thought: Done.\nAction: finished(content='saved')");
        });
        unsigned seed = 0;
        const json suite = read_json(DESKPILOT_SOURCE_DIR "/eval/tasks/sandbox.json");
        for (const auto& t : suite["tasks"])
            if (t["id"] == "shortcut-save") seed = t["seed"].get<unsigned>();
        QVERIFY(seed > 0);
        QTemporaryDir dir;
        const QString out = dir.filePath("t.json");
        const Run r = run_shortcut_save(server, out, {"--task-seed-offset", "500"});
        QVERIFY2(r.code == 0, qPrintable(r.out + r.err));
        const json results = read_json(out);
        QCOMPARE(results["task_seed_offset"].get<unsigned>(), 500u);
        QCOMPARE(results["items"][0]["seed"].get<unsigned>(), seed + 500);
        QCOMPARE(results["summary"]["by_task"]["shortcut-save"]["success_rate"].get<double>(), 1.0);
        QFile md(dir.filePath("t.md"));
        QVERIFY(md.open(QIODevice::ReadOnly));
        QVERIFY(md.readAll().contains("task seeds moved by 500"));
    }

    // A model folder's deskpilot.json names its family; a broken one stops the run before any
    // display starts, naming the file.
    void brokenFamilyFileIsOneClearError() {
        QTemporaryDir dir;
        std::ofstream(dir.filePath("deskpilot.json").toStdString()) << "{\"family\": ";
        const Run r = run_cli({"eval", "grounding", "--model-dir", dir.path(), "--seeds", "1", "-o",
                               dir.filePath("r.json")});
        QVERIFY2(r.code == 1, qPrintable(QString::number(r.code) + ": " + r.err));
        QVERIFY2(r.err.contains(dir.filePath("deskpilot.json") + "': is not valid JSON"),
                 qPrintable(r.err));
        QCOMPARE(r.err.count('\n'), 1);
        QVERIFY(!QFile::exists(dir.filePath("r.json")));
    }

    // --coordinate-window reaches the engine: a model that writes numbers digit by digit is
    // refused before any display starts, naming the folder; a window over 1000 is usage.
    void coordinateWindowOnADigitModelIsOneClearError() {
        QTemporaryDir dir;
        const QString tiny = QString(DESKPILOT_TEST_DATA_DIR) + "/engine/qwen3_vl_moe_vision_tiny";
        const QStringList base = {"eval",    "grounding", "--model-dir", tiny,
                                  "--seeds", "1",         "-o",          dir.filePath("r.json")};
        const Run r = run_cli(base + QStringList{"--coordinate-window", "16"});
        QVERIFY2(r.code == 1, qPrintable(QString::number(r.code) + ": " + r.err));
        QVERIFY2(r.err.contains(tiny + ": a coordinate window needs a tokenizer with one token "
                                       "per number"),
                 qPrintable(r.err));
        QVERIFY(!QFile::exists(dir.filePath("r.json")));
        QCOMPARE(run_cli(base + QStringList{"--coordinate-window", "1001"}).code, 2);
    }

    void badInputGivesOneClearErrorAndStatus_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("code");
        QTest::addColumn<QString>("message");
        const QString url = "http://127.0.0.1:1/v1";
        QTest::newRow("no suite") << QStringList{"eval", "--endpoint", url, "--model", "m"} << 2
                                  << "suite";
        QTest::newRow("unknown suite")
            << QStringList{"eval", "screens", "--endpoint", url, "--model", "m"} << 2 << "screens";
        QTest::newRow("no model") << QStringList{"eval", "grounding"} << 2
                                  << "--endpoint URL and --model NAME";
        QTest::newRow("model dir missing")
            << QStringList{"eval", "grounding", "--model-dir", "/nowhere"} << 1 << "/nowhere";
        QTest::newRow("model dir and endpoint")
            << QStringList{"eval", "grounding", "--model-dir", "/nowhere", "--endpoint", url} << 2
            << "not both";
        QTest::newRow("action grammar on an endpoint")
            << QStringList{"eval",    "grounding", "--endpoint",       url,
                           "--model", "m",         "--action-grammar", "on"}
            << 2 << "--action-grammar needs --model-dir (the native engine)";
        QTest::newRow("action grammar value")
            << QStringList{"eval",    "grounding", "--endpoint",       url,
                           "--model", "m",         "--action-grammar", "yes"}
            << 2 << "--action-grammar";
        QTest::newRow("family") << QStringList{"eval",    "grounding", "--endpoint", url,
                                               "--model", "m",         "--family",   "gpt"}
                                << 2 << "unknown --family 'gpt'";
        QTest::newRow("seeds reversed") << QStringList{"eval",    "grounding", "--endpoint", url,
                                                       "--model", "m",         "--seeds",    "5..2"}
                                        << 2 << "--seeds '5..2'";
        QTest::newRow("seeds text") << QStringList{"eval",    "grounding", "--endpoint", url,
                                                   "--model", "m",         "--seeds",    "a..b"}
                                    << 2 << "--seeds 'a..b'";
        QTest::newRow("jobs zero")
            << QStringList{"eval", "grounding", "--endpoint", url, "--model", "m", "--jobs", "0"}
            << 2 << "--jobs";
        QTest::newRow("window offset text")
            << QStringList{"eval",    "grounding", "--endpoint",      url,
                           "--model", "m",         "--window-offset", "48x36"}
            << 2 << "--window-offset '48x36': expected DX,DY";
        QTest::newRow("window offset off screen")
            << QStringList{"eval",    "grounding", "--endpoint",      url,
                           "--model", "m",         "--window-offset", "1280,0"}
            << 2 << "--window-offset '1280,0': leaves none of the 1280x800";
        QTest::newRow("task seed offset on grounding")
            << QStringList{"eval",    "grounding", "--endpoint",         url,
                           "--model", "m",         "--task-seed-offset", "500"}
            << 2 << "--task-seed-offset applies to the tasks suite";
        QTest::newRow("task seed offset past the eval seeds")
            << QStringList{"eval",    "tasks", "--endpoint",         url,
                           "--model", "m",     "--task-seed-offset", "990"}
            << 2 << "would leave the evaluation seeds 0..999";
        QTest::newRow("unknown task")
            << QStringList{"eval", "tasks", "--endpoint", url, "--model", "m", "--task", "fly"} << 2
            << "--task 'fly'";
        QTest::newRow("missing task file")
            << QStringList{"eval",    "tasks", "--endpoint", url,
                           "--model", "m",     "--tasks",    "/nowhere/tasks.json"}
            << 1 << "'/nowhere/tasks.json': cannot be read";
        QTest::newRow("unreachable endpoint")
            << QStringList{"eval", "grounding", "--endpoint", url, "--model", "m", "--seeds", "1"}
            << 1 << "127.0.0.1:1";
    }
    void badInputGivesOneClearErrorAndStatus() {
        QFETCH(QStringList, args);
        QFETCH(int, code);
        QFETCH(QString, message);
        QTemporaryDir dir;
        args << "-o" << dir.filePath("r.json");
        const Run r = run_cli(args);
        QVERIFY2(r.code == code, qPrintable(QString::number(r.code) + ": " + r.err));
        QVERIFY2(r.err.contains(message), qPrintable(r.err));
        QVERIFY(!QFile::exists(dir.filePath("r.json")));
    }
};

QTEST_GUILESS_MAIN(EvalCliTest)
#include "test_eval_cli.moc"
