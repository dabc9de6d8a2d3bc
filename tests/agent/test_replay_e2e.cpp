// Verified replay on a private Xvfb (label x11): the bundled session recorded from the form task
// replays to the same sandbox state; follows widgets that moved a little; refuses to click when
// the screen is a different one. Also: a run killed with SIGKILL loads and replays.
#include <QProcess>
#include <QtTest>

#include <signal.h>

#include "agent/replay.h"
#include "form_task.h"

using namespace deskpilot;
using namespace deskpilot::testing;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::filesystem::path bundled_session() {
    return test_data_dir() / "sessions/form-task";
}

agent::ReplayResult replay_into(AgentStack& s, const std::filesystem::path& source,
                                agent::VerifyMode verify,
                                std::chrono::milliseconds timeout = 4000ms) {
    agent::ReplayOptions options;
    options.source = source;
    options.session_dir = s.sessions.filePath("replay").toStdString();
    options.verify = verify;
    options.speed = 20;
    options.verify_timeout = timeout;
    options.settle.quiet = 150ms;
    return agent::replay(options, *s.screen, *s.actuator, s.control, s.observer);
}

}  // namespace

class ReplayEndToEndTest : public QObject {
    Q_OBJECT
  private slots:
    void reachesTheSameStateOnAFreshSandbox() {
        AgentStack s;
        const auto result = replay_into(s, bundled_session(), agent::VerifyMode::strict);
        QVERIFY2(result.status == agent::RunStatus::finished,
                 (result.message + "\n" + s.observer.dump()).c_str());
        QCOMPARE(result.steps_replayed, kFormTaskSteps);
        QVERIFY2(form_task_done(*s.sandbox).empty(), form_task_done(*s.sandbox).c_str());
        const auto recorded = agent::load_session(result.session_dir);
        QCOMPARE(recorded.manifest.replay_of, bundled_session().string());
        QCOMPARE(recorded.manifest.status, std::string("finished"));
        QCOMPARE(recorded.steps.size(), std::size_t(kFormTaskSteps));
    }

    void followsWidgetsThatMovedALittle() {
        AgentStack s({.geometry = vision::Rect{36, 22, 1280, 800}});
        const auto result = replay_into(s, bundled_session(), agent::VerifyMode::loose);
        QVERIFY2(result.status == agent::RunStatus::finished,
                 (result.message + "\n" + s.observer.dump()).c_str());
        QVERIFY(result.retargeted >= 5);
        QVERIFY2(form_task_done(*s.sandbox).empty(), form_task_done(*s.sandbox).c_str());
        // The first click was moved by the window's offset.
        const auto replayed = agent::load_session(result.session_dir);
        const auto original = agent::load_session(bundled_session());
        QCOMPARE(replayed.steps[0].actions[0]["x"].get<int>(),
                 original.steps[0].actions[0]["x"].get<int>() + 36);
        QCOMPARE(replayed.steps[0].actions[0]["y"].get<int>(),
                 original.steps[0].actions[0]["y"].get<int>() + 22);
    }

    void refusesToClickOnADifferentScreen() {
        AgentStack s({.seed = 5});
        const auto result = replay_into(s, bundled_session(), agent::VerifyMode::loose, 1500ms);
        QVERIFY(result.status == agent::RunStatus::error);
        QVERIFY2(result.message.find("step 1") != std::string::npos &&
                     result.message.find("similarity") != std::string::npos,
                 result.message.c_str());
        QVERIFY(std::filesystem::exists(result.mismatch_image));
        std::this_thread::sleep_for(300ms);
        for (const auto& e : s.sandbox->events())
            QVERIFY2(e.value("event", "") == "ready", e.dump().c_str());
    }

    void aRunKilledMidwayLoadsAndReplays() {
        // `deskpilot run` against the scripted model, killed with SIGKILL once the checkbox is
        // ticked.
        AgentStack live;
        live.server->set_handler(
            [&](const RecordedRequest& r) { return form_task_reply(live, r); });
        const QString session = live.sessions.filePath("killed");
        QProcess run;
        run.start(
            QString::fromStdString(deskpilot_executable().string()),
            {"run", "--task", "Fill in the form", "--endpoint",
             QString::fromStdString(live.server->base_url()), "--model", "ui-tars-1.5-7b",
             "--display", QString::fromStdString(live.display->name()), "--session", session});
        QVERIFY(run.waitForStarted());
        QVERIFY(live.sandbox->wait_for_event(
            [](const json& e) { return event_is(e, "checked", "agree"); }, 30s));
        ::kill(static_cast<pid_t>(run.processId()), SIGKILL);
        QVERIFY(run.waitForFinished(5000));

        const auto loaded = agent::load_session(session.toStdString());
        QCOMPARE(loaded.manifest.status, std::string("running"));  // it never got to say otherwise
        QVERIFY(loaded.steps.size() >= 5);
        QVERIFY(loaded.steps.size() < std::size_t(kFormTaskSteps));

        AgentStack fresh;
        const auto result = replay_into(fresh, session.toStdString(), agent::VerifyMode::strict);
        QVERIFY2(result.status == agent::RunStatus::finished,
                 (result.message + "\n" + fresh.observer.dump()).c_str());
        QCOMPARE(result.steps_replayed, static_cast<int>(loaded.steps.size()));
        QVERIFY(fresh.has_event([](const json& e) {
            return event_is(e, "text", "name") && e["value"] == "Ada Lovelace";
        }));
        QVERIFY(
            fresh.has_event([](const json& e) { return event_is(e, "combo") && e["index"] == 1; }));
    }
};

QTEST_GUILESS_MAIN(ReplayEndToEndTest)
#include "test_replay_e2e.moc"
