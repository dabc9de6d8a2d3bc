// deskpilot-demo --model-dir: the live demo with the committed deskpilot-nano checkpoint. The
// demo starts its own private Xvfb (agent::PrivateDisplay; ctest clears DISPLAY, so it never
// sees the developer's) and runs the agent with the CPU engine on its default task, as `make demo`
// does. It must stream the model's text, send its actions to the sandbox, write the report, and
// do the task (exit 0): `make demo` shows the committed checkpoint doing a task, so a checkpoint
// that cannot do it fails here. Cut short by --max-steps, it exits 3 (not done) with the same
// report. A missing or broken model folder, an unknown task and a live-only option without
// --model-dir are each one clear error.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

namespace {

const QString kDemo = QStringLiteral(DESKPILOT_BIN_DIR "/deskpilot-demo");
const fs::path kModel = fs::path(DESKPILOT_SOURCE_DIR) / "models/deskpilot-nano";

struct Result {
    int code = -1;
    QString out, err;
};

Result run_demo(const QStringList& args, int timeout_ms) {
    QProcess p;
    p.start(kDemo, args);
    if (!p.waitForStarted(10000)) return {-1, {}, "did not start: " + p.errorString()};
    if (!p.waitForFinished(timeout_ms) && p.state() != QProcess::NotRunning) {
        p.kill();
        p.waitForFinished(5000);
        return {-2, QString::fromUtf8(p.readAllStandardOutput()),
                "timed out: " + QString::fromUtf8(p.readAllStandardError())};
    }
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -3,
            QString::fromUtf8(p.readAllStandardOutput()),
            QString::fromUtf8(p.readAllStandardError())};
}

QString both(const Result& r) {
    return "exit " + QString::number(r.code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

// The model's text streamed under the first step header, at least min_actions actions went to
// the sandbox and into the session, and the sandbox's event log, the report and the final
// screenshot were written.
void check_session(const Result& r, const fs::path& dir, int min_actions) {
    const qsizetype step = r.out.indexOf("\nstep 1\n  ");
    QVERIFY2(step >= 0, qPrintable(both(r)));
    const QString streamed = r.out.mid(step + 10).section('\n', 0, 0).trimmed();
    QVERIFY2(!streamed.isEmpty(), qPrintable(both(r)));
    QVERIFY2(r.out.contains("\n  -> {\""), qPrintable(both(r)));  // "  -> {action} result"
    std::ifstream steps(dir / "live-session/steps.jsonl");
    QVERIFY(steps.good());
    int actions = 0;
    for (std::string line; std::getline(steps, line);)
        actions +=
            int(nlohmann::json::parse(line).value("actions", nlohmann::json::array()).size());
    QVERIFY2(actions >= min_actions, qPrintable(both(r)));
    QVERIFY(fs::file_size(dir / "sandbox/state.jsonl") > 0);
    QVERIFY(fs::file_size(dir / "report.html") > 1000);
    QVERIFY(fs::file_size(dir / "screenshot.png") > 0);
}

// The demo on the committed checkpoint with `extra` options: it must exit `code`, print
// `verdict`, and leave a whole session of at least `min_actions` actions.
void run_committed_model(const QStringList& extra, int code, int min_actions,
                         const QString& verdict) {
    QTemporaryDir out;
    QVERIFY(out.isValid());
    const Result r = run_demo(QStringList{"--model-dir", QString::fromStdString(kModel.string()),
                                          "--out", out.path(), "--threads", "2"} +
                                  extra,
                              180000);
    QVERIFY2(r.code == code, qPrintable(both(r)));
    check_session(r, out.path().toStdString(), min_actions);
    if (QTest::currentTestFailed()) return;
    QVERIFY2(r.out.contains(verdict), qPrintable(both(r)));
}

}  // namespace

class TestDemoLive : public QObject {
    Q_OBJECT

  private slots:
    void doesItsDefaultTask() {
        if (!fs::exists(kModel / "model.safetensors"))
            QSKIP("models/deskpilot-nano/model.safetensors is missing (the committed checkpoint)");
        run_committed_model({}, 0, 3, "TASK DONE");
    }

    void stoppedShortItIsNotDone() {
        if (!fs::exists(kModel / "model.safetensors"))
            QSKIP("models/deskpilot-nano/model.safetensors is missing (the committed checkpoint)");
        run_committed_model({"--max-steps", "1"}, 3, 1, "TASK NOT DONE");
    }

    void missingModelIsOneClearError() {
        QTemporaryDir out;
        const QString missing = out.filePath("no-such-model");
        const Result r = run_demo({"--model-dir", missing, "--out", out.filePath("o")}, 30000);
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("cannot load the model") && r.err.contains(missing) &&
                     r.err.contains("no such model folder"),
                 qPrintable(both(r)));
        QCOMPARE(r.err.count('\n'), 1);
        QVERIFY2(!r.out.contains("private X server"), qPrintable(both(r)));  // nothing started
    }

    void corruptModelIsOneClearError() {
        // A valid folder but for its weights: the tiny golden Qwen3-VL-MoE's config and the nano
        // tokenizer (both committed test data), and a model.safetensors that is not one.
        const fs::path data = fs::path(DESKPILOT_SOURCE_DIR) / "tests/data/engine";
        QTemporaryDir dir;
        const fs::path d = dir.path().toStdString();
        fs::copy_file(data / "qwen3_vl_moe_tiny/config.json", d / "config.json");
        fs::copy_file(data / "nano_tokenizer/tokenizer.json", d / "tokenizer.json");
        std::ofstream(d / "model.safetensors") << "not a safetensors file";
        const Result r = run_demo({"--model-dir", dir.path(), "--out", dir.filePath("o")}, 30000);
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("cannot load the model") && r.err.contains("model.safetensors"),
                 qPrintable(both(r)));
        QCOMPARE(r.err.count('\n'), 1);
        QVERIFY2(!r.out.contains("private X server"), qPrintable(both(r)));
    }

    void unknownTaskIsAUsageError() {
        QTemporaryDir out;
        const Result r = run_demo({"--model-dir", out.path(), "--task", "no-such-task"}, 30000);
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("unknown --task 'no-such-task'") && r.err.contains("name-save"),
                 qPrintable(both(r)));
    }

    void liveOptionsNeedAModel() {
        const Result r = run_demo({"--task", "name-save"}, 30000);
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("need --model-dir"), qPrintable(both(r)));
        const Result bad = run_demo({"--model-dir", "x", "--seed", "three"}, 30000);
        QCOMPARE(bad.code, 2);
        QVERIFY2(bad.err.contains("--seed 'three' is not a number"), qPrintable(both(bad)));
        const Result negative = run_demo({"--model-dir", "x", "--threads", "-1"}, 30000);
        QCOMPARE(negative.code, 2);
        QVERIFY2(negative.err.contains("must not be negative"), qPrintable(both(negative)));
        const Result dangling = run_demo({"--model-dir"}, 30000);
        QCOMPARE(dangling.code, 2);
        QVERIFY2(dangling.err.contains("--model-dir needs a value"), qPrintable(both(dangling)));
    }
};

QTEST_GUILESS_MAIN(TestDemoLive)
#include "test_demo_live.moc"
