// ActionExecutor over the DryRunActuator: which actuator calls each action type makes, and
// that a bad action is refused whole before anything reaches the actuator.
#include <QtTest>

#include "actuators/dry_run_actuator.h"
#include "agent/action_executor.h"

using namespace deskpilot;
using planner::action_from_json_text;

namespace {

std::vector<vision::Monitor> one_screen() {
    return {{0, "screen", {0, 0, 1280, 800}, true}};
}

}  // namespace

class ActionExecutorTest : public QObject {
    Q_OBJECT
  private slots:
    void eachDesktopActionMapsToTheActuator() {
        actuators::DryRunActuator dry(one_screen());
        agent::ActionExecutor ex(dry, {.scroll_clicks = 3,
                                       .wait_duration = std::chrono::milliseconds(1),
                                       .long_press = std::chrono::milliseconds(2)});
        const char* actions[] = {
            R"({"type":"click","x":1,"y":2})",
            R"({"type":"left_double","x":3,"y":4})",
            R"({"type":"right_single","x":5,"y":6})",
            R"({"type":"drag","x":1,"y":1,"x2":9,"y2":9})",
            R"({"type":"hotkey","keys":["ctrl","s"]})",
            R"({"type":"type","text":"a\n"})",
            R"({"type":"scroll","x":7,"y":8,"direction":"left"})",
            R"({"type":"wait"})",
            R"({"type":"hover","x":10,"y":11})",
            R"({"type":"long_press","x":12,"y":13})",
            R"({"type":"press","keys":["shift","a"]})",
            R"({"type":"release","keys":["shift","a"]})",
        };
        for (const char* a : actions)
            QCOMPARE(ex.execute(action_from_json_text(a)), agent::ActionOutcome::performed);
        const std::vector<std::string> expected = {"click left x1 at (1,2)",
                                                   "click left x2 at (3,4)",
                                                   "click right x1 at (5,6)",
                                                   "drag left from (1,1) to (9,9)",
                                                   "hotkey ctrl s",
                                                   "type a\n",
                                                   "scroll left x3 at (7,8)",
                                                   "wait 1 ms",
                                                   "move to (10,11)",
                                                   "move to (12,13)",
                                                   "button left down",
                                                   "wait 2 ms",
                                                   "button left up",
                                                   "key shift down",
                                                   "key a down",
                                                   "key a up",
                                                   "key shift up"};
        QCOMPARE(dry.log(), expected);
        QCOMPARE(ex.execute(action_from_json_text(R"({"type":"finished","text":"ok"})")),
                 agent::ActionOutcome::finished);
        QCOMPARE(ex.execute(action_from_json_text(R"({"type":"call_user"})")),
                 agent::ActionOutcome::call_user);
        QCOMPARE(dry.log().size(), expected.size());
    }

    void badActionsAreRefusedBeforeAnythingIsSent() {
        actuators::DryRunActuator dry(one_screen());
        agent::ActionExecutor ex(dry);
        const std::vector<std::pair<const char*, const char*>> bad = {
            {R"({"type":"hotkey","keys":["ctrl","hyper"]})", "unknown key name \"hyper\""},
            {R"({"type":"press","keys":["nokey"]})", "unknown key name"},
            {R"({"type":"click","x":1280,"y":0})", "(1280,0) lies on no monitor"},
            {R"({"type":"drag","x":0,"y":0,"x2":5,"y2":-1})", "(5,-1) lies on no monitor"},
            {R"({"type":"click","x":1,"y":1,"out_of_range":true})", "outside the screen"},
            {R"({"type":"type","text":"a\u0007b"})", "control character at position 1"},
            {R"({"type":"open_app","app_name":"x"})", "phone action"},
            {R"({"type":"press_back"})", "phone action"},
        };
        for (const auto& [json, says] : bad) {
            try {
                ex.execute(action_from_json_text(json));
                QFAIL(json);
            } catch (const planner::ActionError& e) {
                QVERIFY2(QString(e.what()).contains(says), e.what());
            }
        }
        QVERIFY(dry.log().empty());
    }

    void batchValidationNamesTheAction() {
        actuators::DryRunActuator dry;
        agent::ActionExecutor ex(dry);
        const std::vector<planner::Action> batch = {
            action_from_json_text(R"({"type":"click","x":1,"y":2})"),
            action_from_json_text(R"({"type":"hotkey","keys":["strg"]})")};
        try {
            ex.validate(batch);
            QFAIL("expected ActionError");
        } catch (const planner::ActionError& e) {
            QVERIFY2(QString(e.what()).startsWith("action 2: "), e.what());
        }
        // Without monitors the dry run accepts any point.
        ex.validate(action_from_json_text(R"({"type":"click","x":99999,"y":2})"));
        QVERIFY(dry.log().empty());
    }
};

QTEST_APPLESS_MAIN(ActionExecutorTest)
#include "test_action_executor.moc"
