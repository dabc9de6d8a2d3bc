// The agent loop end to end (label x11): a private Xvfb with the sandbox, the loopback
// OpenAI-compatible server playing a scripted UI-TARS-1.5 model whose answers are computed from
// the sandbox's layout and the size of the screenshot it receives, real capture and XTest.
// The sandbox's --state events prove what happened.
#include <QElapsedTimer>
#include <QtTest>

#include "agent/second_look.h"
#include "agent_fixture.h"
#include "form_task.h"

using namespace deskpilot;
using namespace deskpilot::testing;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// A backend that shows the model a family at its own size, as the native engine does for a
// deskpilot-nano checkpoint whose preprocessor_config.json says 960x576 pixels. A test double:
// no nano checkpoint is trained at that size yet (test_engine_nano_checkpoint checks the
// engine's side with the committed weights); the real RemoteVlm underneath does the talking.
class CheckpointSizedBackend : public model::Vlm {
  public:
    CheckpointSizedBackend(model::Vlm& inner, std::int64_t max_pixels)
        : inner_(inner), max_pixels_(max_pixels) {}
    model::Response generate(const planner::Request& request, const model::GenerateOptions& options,
                             const model::TextCallback& on_text,
                             const model::CancelToken& cancel) override {
        return inner_.generate(request, options, on_text, cancel);
    }
    std::string describe() const override { return "checkpoint-sized " + inner_.describe(); }
    planner::ModelFamily family_as_seen(const planner::ModelFamily& family) const override {
        planner::ModelFamily seen = family;
        if (family.sized_by_checkpoint) seen.resize.max_pixels = max_pixels_;
        return seen;
    }

  private:
    model::Vlm& inner_;
    std::int64_t max_pixels_;
};

// Runs "Save" with the second look on; checks that the run finished with Save clicked.
agent::RunResult save_with_second_look(AgentStack& s) {
    auto config = s.config("Save");
    config.second_look = true;
    AgentRun run(s, config);
    const auto result = run.join();
    [&] {
        QVERIFY2(result.status == agent::RunStatus::finished, s.observer.dump().c_str());
        QVERIFY2(s.has_event([](const json& e) { return event_is(e, "clicked", "save"); }),
                 s.observer.dump().c_str());
    }();
    return result;
}

}  // namespace

class AgentEndToEndTest : public QObject {
    Q_OBJECT
  private slots:
    void formTaskCompletes() {
        AgentStack s;
        s.server->set_handler([&](const RecordedRequest& r) { return form_task_reply(s, r); });
        AgentRun run(s, s.config("Fill in the form and save it"));
        const auto result = run.join();
        QVERIFY2(result.status == agent::RunStatus::finished,
                 (result.message + "\n" + s.observer.dump()).c_str());
        QVERIFY2(result.message == "Form filled and saved",
                 (result.message + "\n" + s.observer.dump()).c_str());
        QCOMPARE(result.steps, 11);

        QVERIFY2(form_task_done(*s.sandbox).empty(), form_task_done(*s.sandbox).c_str());

        const auto session = agent::load_session(result.session_dir);
        QCOMPARE(session.manifest.status, std::string("finished"));
        QCOMPARE(session.steps.size(), std::size_t(11));
        QCOMPARE(session.steps[1].actions[0]["text"].get<std::string>(),
                 std::string("Ada Lovelace"));
        // Each request carried at most the last 5 screenshots, each of the smart_resize size.
        const auto requests = s.server->chat_requests();
        QCOMPARE(requests.size(), std::size_t(11));
        QCOMPARE(requests.back().image_urls().size(), std::size_t(5));
        const auto expected = vision::smart_resize(s.screen_size, vision::kUiTarsResize);
        QCOMPARE(data_url_image_size(requests.back().image_urls().back()), expected);
        // Streamed text reached the observer.
        QVERIFY(s.observer.streamed().find("Ada Lovelace") != std::string::npos);
    }

    // A backend that caps screenshots (the native engine's --max-pixels) shows the model a
    // smaller image; UI-TARS-1.5 answers in pixels of that image, so the agent maps from it.
    void pixelCapMapsCoordinatesFromTheSmallerImage() {
        AgentStack s;
        const vision::Size capped{560, 336};  // smart_resize(1280x800, 28, max 200704)
        s.server->set_handler([&](const RecordedRequest& r) {
            if (assistant_turns(r) == 0)
                return ScriptedReply::answer(click(s, "save", capped, "Save it."));
            return ScriptedReply::answer("Thought: done\nAction: finished(content='ok')");
        });
        auto config = s.config("Save");
        config.max_pixels = 200704;
        AgentRun run(s, config);
        const auto result = run.join();
        QVERIFY2(result.status == agent::RunStatus::finished, s.observer.dump().c_str());
        QVERIFY2(s.has_event([](const json& e) { return event_is(e, "clicked", "save"); }),
                 s.observer.dump().c_str());
    }

    // With a second look, the agent asks each click again on the quarter of the screen around
    // it, doubled, and clicks where that answer points: here the first answer is 40 px off the
    // Save button and the second, in the zoomed image's pixels, on its centre.
    void secondLookClicksWhereTheZoomedAnswerPoints() {
        AgentStack s;
        const vision::Size image = vision::smart_resize(s.screen_size, vision::kUiTarsResize);
        const vision::Point save = s.center("save");
        const vision::Point first{save.x + 40, save.y - 40};
        const vision::Rect region = agent::second_look_region(first, s.screen_size);
        const vision::Point zoomed{(save.x - region.x) * 2, (save.y - region.y) * 2};
        int asked = 0;
        s.server->set_handler([&](const RecordedRequest& r) {
            if (assistant_turns(r) > 0)
                return ScriptedReply::answer("Thought: done\nAction: finished(content='ok')");
            const vision::Point p = ++asked == 1 ? first : zoomed;
            return ScriptedReply::answer(
                "Thought: Save it.\nAction: click(start_box=" + box(p, s.screen_size, image) + ")");
        });
        const auto result = save_with_second_look(s);
        if (QTest::currentTestFailed()) return;
        // Two questions for the first step, the second with the same single screenshot slot
        // holding the doubled region (the screen's size again), then the finishing step.
        const auto requests = s.server->chat_requests();
        QCOMPARE(requests.size(), std::size_t(3));
        QCOMPARE(requests[1].image_urls().size(), std::size_t(1));
        QCOMPARE(data_url_image_size(requests[1].image_urls()[0]), image);
        QVERIFY(requests[1].image_urls()[0] != requests[0].image_urls()[0]);
        const auto session = agent::load_session(result.session_dir);
        const json& look = session.steps[0].second_look;
        QCOMPARE(look.at("region"), json({region.x, region.y, region.width, region.height}));
        QCOMPARE(look.at("first_point"), json({first.x, first.y}));
        const json clicked = session.steps[0].actions[0];
        QVERIFY2(std::abs(clicked.at("x").get<int>() - save.x) <= 2 &&
                     std::abs(clicked.at("y").get<int>() - save.y) <= 2,
                 clicked.dump().c_str());
        QVERIFY(session.steps[1].second_look.is_null());  // finished(): nothing to look at
    }

    // A second answer with no point keeps the first point, says so, and records why.
    void secondLookWithoutAPointKeepsTheFirst() {
        AgentStack s;
        const vision::Size image = vision::smart_resize(s.screen_size, vision::kUiTarsResize);
        int asked = 0;
        s.server->set_handler([&](const RecordedRequest& r) {
            if (assistant_turns(r) > 0)
                return ScriptedReply::answer("Thought: done\nAction: finished(content='ok')");
            if (++asked == 2) return ScriptedReply::answer("Thought: hm\nAction: wait()");
            return ScriptedReply::answer(click(s, "save", image, "Save it."));
        });
        const auto result = save_with_second_look(s);
        if (QTest::currentTestFailed()) return;
        QVERIFY2(s.observer.wait_for("warning step 1: the second look's answer has no action "
                                     "with a position; clicking the first look's point"),
                 s.observer.dump().c_str());
        const auto session = agent::load_session(result.session_dir);
        QVERIFY(session.steps[0].second_look.contains("error"));
        QVERIFY(!session.steps[0].second_look.contains("point"));
    }

    // The model's backend, not the family table, says what size the model saw: a nano
    // checkpoint trained at 960x576 answers in pixels of 960x576; mapped as the family's
    // default (640x384), the same numbers would land 1.5 times as far from the top-left corner.
    void backendSizedFamilyMapsFromTheModelsImage() {
        AgentStack s;
        const vision::Size seen{960, 576};  // smart_resize(1280x800, 32, max 576000)
        s.server->set_handler([&](const RecordedRequest& r) {
            if (assistant_turns(r) == 0)
                return ScriptedReply::answer(click(s, "save", seen, "Save it."));
            return ScriptedReply::answer("Thought: done\nAction: finished(content='ok')");
        });
        CheckpointSizedBackend backend(*s.model, 576000);
        auto config = s.config("Save");
        config.family = "deskpilot-nano";
        agent::Agent agent(config, *s.screen, backend, *s.actuator, s.control, s.observer);
        const auto result = agent.run();
        QVERIFY2(result.status == agent::RunStatus::finished, s.observer.dump().c_str());
        QVERIFY2(s.has_event([](const json& e) { return event_is(e, "clicked", "save"); }),
                 s.observer.dump().c_str());
    }

    void stopDuringASlowModelCallIsImmediate() {
        AgentStack s;
        auto slow = ScriptedReply::answer(click(s, "save", {1288, 812}, "slow"));
        slow.delay = 20s;
        s.server->set_default(slow);
        AgentRun run(s, s.config("Press save"));
        QVERIFY(s.server->wait_for_requests(1, 10s));
        std::this_thread::sleep_for(100ms);
        QElapsedTimer t;
        t.start();
        s.control.stop();
        const auto result = run.join();
        const auto took = t.elapsed();
        QVERIFY2(took < 150, qPrintable(QString("the run took %1 ms to stop").arg(took)));
        QVERIFY(result.status == agent::RunStatus::stopped);
        std::this_thread::sleep_for(300ms);
        QVERIFY(!s.has_event([](const json& e) { return event_is(e, "clicked"); }));
        QCOMPARE(agent::load_session(result.session_dir).manifest.status, std::string("stopped"));
    }

    void stepRunsExactlyOneStepThenPauses() {
        AgentStack s;
        s.server->set_handler([&](const RecordedRequest& r) {
            const vision::Size image = data_url_image_size(r.image_urls().back());
            if (assistant_turns(r) < 2)
                return ScriptedReply::answer(
                    click(s, assistant_turns(r) ? "cancel" : "save", image, "go"));
            return ScriptedReply::answer("Thought: done\nAction: finished(content='ok')");
        });
        s.control.pause();
        AgentRun run(s, s.config("Press save then cancel"));
        std::this_thread::sleep_for(300ms);
        QCOMPARE(s.server->chat_requests().size(), std::size_t(0));  // paused before the first step
        s.control.step();
        QTRY_VERIFY_WITH_TIMEOUT(
            s.has_event([](const json& e) { return event_is(e, "clicked", "save"); }), 10000);
        QVERIFY(s.observer.wait_for("paused", 10s));
        std::this_thread::sleep_for(400ms);
        QCOMPARE(s.server->chat_requests().size(), std::size_t(1));  // and stays paused
        s.control.resume();
        const auto result = run.join();
        QVERIFY2(result.status == agent::RunStatus::finished, result.message.c_str());
        QVERIFY(s.has_event([](const json& e) { return event_is(e, "clicked", "cancel"); }));
    }

    void pauseHoldsTheRunAndResumeContinuesIt() {
        AgentStack s;
        s.server->set_handler([&](const RecordedRequest& r) {
            const vision::Size image = data_url_image_size(r.image_urls().back());
            return ScriptedReply::answer(
                click(s, assistant_turns(r) % 2 ? "cancel" : "save", image, "again"));
        });
        auto config = s.config("Press save and cancel for a while");
        config.max_steps = 6;
        AgentRun run(s, config);
        QVERIFY(s.observer.wait_for("executed 2"));
        s.control.pause();
        const auto requests_at_pause = s.server->chat_requests().size();
        std::this_thread::sleep_for(800ms);
        // At most the step under way when pause() came may still ask the model; then nothing.
        QVERIFY(s.server->chat_requests().size() <= requests_at_pause + 1);
        const auto held = s.server->chat_requests().size();
        std::this_thread::sleep_for(500ms);
        QCOMPARE(s.server->chat_requests().size(), held);
        QVERIFY(s.control.paused());
        s.control.resume();
        const auto result = run.join();
        QVERIFY2(result.status == agent::RunStatus::max_steps, result.message.c_str());
        QCOMPARE(s.server->chat_requests().size(), std::size_t(6));
    }

    void approvalApproveEditAndRejectWithFeedback() {
        AgentStack s;
        s.server->set_handler([&](const RecordedRequest& r) {
            const vision::Size image = data_url_image_size(r.image_urls().back());
            switch (assistant_turns(r)) {
                case 0:
                    return ScriptedReply::answer(click(s, "cancel", image, "Cancel first."));
                case 1:
                    return ScriptedReply::answer(click(s, "ok", image, "Then OK."));
                case 2:
                    return ScriptedReply::answer(
                        click(s, "open_dialog", image, "Open the dialog."));
                default:
                    return ScriptedReply::answer("Thought: ok\nAction: finished(content='done')");
            }
        });
        auto config = s.config("Approve, edit and reject");
        config.policy.mode = agent::ApprovalMode::each;
        AgentRun run(s, config);

        auto pending = s.observer.next_pending();
        QVERIFY(pending);
        s.control.decide({agent::ApprovalDecision::Kind::approve});
        pending = s.observer.next_pending();
        QVERIFY(pending);
        QCOMPARE(pending->action.type, planner::ActionType::click);
        // The person drags the marker from OK to Save.
        planner::Action edited = pending->action;
        edited.point = s.center("save");
        s.control.decide({agent::ApprovalDecision::Kind::edit, edited});
        pending = s.observer.next_pending();
        QVERIFY(pending);
        s.control.decide(
            {agent::ApprovalDecision::Kind::reject, {}, "Do not open the dialog; just finish."});
        const auto result = run.join();
        QVERIFY2(result.status == agent::RunStatus::finished, result.message.c_str());

        QVERIFY(s.has_event([](const json& e) { return event_is(e, "clicked", "cancel"); }));
        QVERIFY(s.has_event([](const json& e) { return event_is(e, "clicked", "save"); }));
        QVERIFY(!s.has_event([](const json& e) { return event_is(e, "clicked", "ok"); }));
        QVERIFY(!s.has_event([](const json& e) { return event_is(e, "dialog"); }));
        const auto requests = s.server->chat_requests();
        QVERIFY(requests.back().all_text().find("Do not open the dialog; just finish.") !=
                std::string::npos);
        const auto session = agent::load_session(result.session_dir);
        QCOMPARE(session.steps[1].approvals[0].get<std::string>(), std::string("edited"));
        QCOMPARE(session.steps[2].approvals[0].get<std::string>(), std::string("rejected"));
    }

    void loopDetectionEndsARepeatingRun() {
        AgentStack s;
        s.server->set_handler([&](const RecordedRequest& r) {
            // The status label: clicking it changes nothing on screen.
            return ScriptedReply::answer(
                click(s, "status", data_url_image_size(r.image_urls().back()), "Try again."));
        });
        AgentRun run(s, s.config("Click the label forever"));
        const auto result = run.join();
        QVERIFY(result.status == agent::RunStatus::error);
        QVERIFY2(result.message.find("\"click\"") != std::string::npos &&
                     result.message.find("3 times") != std::string::npos,
                 result.message.c_str());
        QCOMPARE(result.steps, 3);
    }

    void denyRuleKeepsTheActionFromRunning() {
        AgentStack s;
        s.server->set_handler([&](const RecordedRequest& r) {
            if (assistant_turns(r) == 0)
                return ScriptedReply::answer(
                    click(s, "save", data_url_image_size(r.image_urls().back()), "Save."));
            return ScriptedReply::answer("Thought: fine\nAction: finished(content='gave up')");
        });
        auto config = s.config("Try to save");
        const auto save = *s.sandbox->widget_rect("save");
        config.policy.deny_regions = {save};
        AgentRun run(s, config);
        const auto result = run.join();
        QVERIFY2(result.status == agent::RunStatus::finished, result.message.c_str());
        QVERIFY(!s.has_event([](const json& e) { return event_is(e, "clicked", "save"); }));
        QVERIFY(s.server->chat_requests().back().all_text().find("not allowed") !=
                std::string::npos);
    }

    void callUserWaitsForTheReply() {
        AgentStack s;
        s.server->set_handler([&](const RecordedRequest& r) {
            if (assistant_turns(r) == 0)
                return ScriptedReply::answer("Thought: Which name?\nAction: call_user()");
            return ScriptedReply::answer("Thought: thanks\nAction: finished(content='ok')");
        });
        AgentRun run(s, s.config("Ask me"));
        QVERIFY(s.observer.wait_for("call_user 1"));
        std::this_thread::sleep_for(200ms);
        QCOMPARE(s.server->chat_requests().size(), std::size_t(1));
        s.control.reply("Use the name Grace.");
        const auto result = run.join();
        QVERIFY2(result.status == agent::RunStatus::finished, result.message.c_str());
        QVERIFY(s.server->chat_requests().back().all_text().find("Use the name Grace.") !=
                std::string::npos);
    }

    void unusableAnswersGetACorrectionTurnThenEndTheRun() {
        AgentStack s;
        s.server->set_default(
            ScriptedReply::answer("Thought: hmm\nAction: teleport(start_box='(1,2)')"));
        AgentRun run(s, s.config("Confuse the parser"));
        const auto result = run.join();
        QVERIFY(result.status == agent::RunStatus::error);
        QCOMPARE(result.steps, 3);
        QVERIFY2(result.message.find("teleport") != std::string::npos, result.message.c_str());
        const auto requests = s.server->chat_requests();
        QCOMPARE(requests.size(), std::size_t(3));
        QVERIFY(requests[1].all_text().find("could not be used") != std::string::npos);
        QVERIFY(requests[1].all_text().find("teleport") != std::string::npos);
    }

    void unreachableEndpointIsAClearError() {
        AgentStack s;
        s.model = std::make_unique<model::RemoteVlm>(
            model::RemoteConfig{.endpoint = "http://127.0.0.1:9/v1",
                                .model = "m",
                                .connect_timeout = 1s,
                                .retry = {.max_retries = 0}});
        AgentRun run(s, s.config("Anything"));
        const auto result = run.join();
        QVERIFY(result.status == agent::RunStatus::error);
        QVERIFY2(result.message.find("127.0.0.1:9") != std::string::npos, result.message.c_str());
        QCOMPARE(agent::load_session(result.session_dir).manifest.status, std::string("error"));
    }
};

QTEST_GUILESS_MAIN(AgentEndToEndTest)
#include "test_agent_e2e.moc"
