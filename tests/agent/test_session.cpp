// Session recording: round trip, crash safety under SIGKILL, torn and corrupt lines.
#include <QTemporaryDir>
#include <QtTest>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "agent/session.h"
#include "vision/image_io.h"

using namespace deskpilot;
using namespace deskpilot::agent;

namespace {

vision::Frame solid(int w, int h, std::uint8_t value) {
    vision::Frame f;
    f.width = w;
    f.height = h;
    f.stride = static_cast<std::size_t>(w) * 4;
    f.pixels = std::make_shared<std::vector<std::uint8_t>>(f.stride * h, value);
    return f;
}

StepRecord step(int index) {
    StepRecord s;
    s.index = index;
    s.started_at = utc_timestamp();
    s.raw_response =
        "Thought: step " + std::to_string(index) + "\nAction: click(start_box='(1,2)')";
    s.thought = "step " + std::to_string(index);
    s.actions = nlohmann::json::array({{{"type", "click"}, {"x", index}, {"y", 2}}});
    s.approvals = {"auto"};
    s.results = {"ok"};
    s.model_ms = 12.5;
    s.prompt_tokens = 100;
    return s;
}

}  // namespace

class SessionTest : public QObject {
    Q_OBJECT
  private slots:
    void roundTrip() {
        QTemporaryDir tmp;
        const std::filesystem::path dir = tmp.filePath("s").toStdString();
        {
            SessionWriter writer(dir, {.task = "Fill the form",
                                       .model = "ui-tars",
                                       .family = "ui-tars-1.5",
                                       .endpoint_host = "localhost:8000",
                                       .screen = {64, 48}});
            for (int i = 1; i <= 3; ++i) {
                StepRecord s = step(i);
                s.screenshot =
                    writer.write_screenshot(i, solid(64, 48, static_cast<std::uint8_t>(i * 10)));
                writer.append_step(s);
            }
            writer.finish("finished", "done");
        }
        const LoadedSession loaded = load_session(dir);
        QVERIFY(loaded.warnings.empty());
        QCOMPARE(loaded.manifest.task, std::string("Fill the form"));
        QCOMPARE(loaded.manifest.status, std::string("finished"));
        QCOMPARE(loaded.manifest.screen, (vision::Size{64, 48}));
        QVERIFY(!loaded.manifest.ended_at.empty());
        QCOMPARE(loaded.steps.size(), std::size_t(3));
        QCOMPARE(loaded.steps[1].thought, std::string("step 2"));
        QCOMPARE(loaded.steps[2].actions[0]["x"].get<int>(), 3);
        QCOMPARE(loaded.steps[0].model_ms, 12.5);
        const auto shot = vision::read_image(dir / loaded.steps[2].screenshot);
        QCOMPARE(shot.width, 64);
        QCOMPARE(static_cast<int>(shot.pixel(5, 5)[0]), 30);
    }

    void refusesToOverwriteASession() {
        QTemporaryDir tmp;
        const std::filesystem::path dir = tmp.filePath("s").toStdString();
        { SessionWriter first(dir, {.task = "a"}); }
        QVERIFY_THROWS_EXCEPTION(SessionError, SessionWriter(dir, {.task = "b"}));
        QCOMPARE(load_session(dir).manifest.task, std::string("a"));
    }

    void survivesSigkillMidRun() {
        QTemporaryDir tmp;
        const std::filesystem::path dir = tmp.filePath("killed").toStdString();
        const pid_t child = ::fork();
        if (child == 0) {
            SessionWriter writer(dir, {.task = "endless"});
            for (int i = 1;; ++i) {
                StepRecord s = step(i);
                s.screenshot = writer.write_screenshot(i, solid(32, 32, 7));
                writer.append_step(s);
            }
        }
        // Let it record a few steps, then kill it without warning.
        QTRY_VERIFY_WITH_TIMEOUT(std::filesystem::exists(dir / "steps.jsonl") &&
                                     std::filesystem::file_size(dir / "steps.jsonl") > 2000,
                                 10000);
        ::kill(child, SIGKILL);
        int status = 0;
        ::waitpid(child, &status, 0);
        QVERIFY(WIFSIGNALED(status));

        const LoadedSession loaded = load_session(dir);
        QVERIFY(loaded.steps.size() >= 3);
        QCOMPARE(loaded.manifest.status, std::string("running"));
        for (std::size_t i = 0; i < loaded.steps.size(); ++i) {
            QCOMPARE(loaded.steps[i].index, static_cast<int>(i + 1));
            // Every recorded step's screenshot was written before its line.
            QVERIFY(vision::read_image(dir / loaded.steps[i].screenshot).width == 32);
        }
    }

    void tornLastLineIsSkippedWithAWarning() {
        QTemporaryDir tmp;
        const std::filesystem::path dir = tmp.filePath("torn").toStdString();
        {
            SessionWriter writer(dir, {.task = "t"});
            writer.append_step(step(1));
            writer.append_step(step(2));
        }
        std::ofstream(dir / "steps.jsonl", std::ios::app)
            << "{\"index\":3,\"thought\":\"half a li";  // no raw string: moc 6.4 misreads it
        const LoadedSession loaded = load_session(dir);
        QCOMPARE(loaded.steps.size(), std::size_t(2));
        QCOMPARE(loaded.warnings.size(), std::size_t(1));
        QVERIFY(loaded.warnings[0].find("line 3") != std::string::npos);
    }

    void corruptMiddleLineIsAnError() {
        QTemporaryDir tmp;
        const std::filesystem::path dir = tmp.filePath("corrupt").toStdString();
        { SessionWriter writer(dir, {.task = "t"}); }
        std::ofstream(dir / "steps.jsonl") << "{\"index\":1}\nnot json\n{\"index\":3}\n";
        try {
            load_session(dir);
            QFAIL("expected SessionError");
        } catch (const SessionError& e) {
            QVERIFY2(std::string(e.what()).find("steps.jsonl: line 2") != std::string::npos,
                     e.what());
        }
    }

    void missingManifestIsNamed() {
        QTemporaryDir tmp;
        try {
            load_session(tmp.path().toStdString());
            QFAIL("expected SessionError");
        } catch (const SessionError& e) {
            QVERIFY2(std::string(e.what()).find("manifest.json: not found") != std::string::npos,
                     e.what());
        }
    }

    void folderNameHasASlug() {
        const std::string name = session_folder_name("Fill the form, then Save!");
        QVERIFY2(name.size() > 16 && name.substr(15) == "-fill-the-form-then-save", name.c_str());
    }
};

QTEST_GUILESS_MAIN(SessionTest)
#include "test_session.moc"
