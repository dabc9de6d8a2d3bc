// Supervision policy (approval modes, deny rules) and loop detection.
#include <QtTest>

#include "agent/policy.h"

using namespace deskpilot;
using namespace deskpilot::agent;
using planner::Action;
using planner::ActionType;
using Kind = PolicyDecision::Kind;

namespace {

Action click(int x, int y) {
    return Action{.type = ActionType::click, .point = vision::Point{x, y}};
}
Action hotkey(std::vector<std::string> keys) {
    return Action{.type = ActionType::hotkey, .keys = std::move(keys)};
}
Action type(std::string text) {
    return Action{.type = ActionType::type, .text = std::move(text)};
}

}  // namespace

class PolicyTest : public QObject {
    Q_OBJECT
  private slots:
    void modesParse() {
        QVERIFY(approval_mode_from_string("auto") == ApprovalMode::automatic);
        QVERIFY(approval_mode_from_string("each") == ApprovalMode::each);
        QVERIFY(approval_mode_from_string("risky") == ApprovalMode::risky);
        QVERIFY(!approval_mode_from_string("sometimes"));
    }

    void autoAllowsOrdinaryActions() {
        PolicyConfig c;
        QVERIFY(evaluate(c, click(10, 10)).kind == Kind::allow);
        QVERIFY(evaluate(c, hotkey({"ctrl", "s"})).kind == Kind::allow);
    }

    void eachAsksForEverything() {
        PolicyConfig c{.mode = ApprovalMode::each};
        QVERIFY(evaluate(c, click(10, 10)).kind == Kind::needs_approval);
    }

    void riskyAsksForHotkeysEnterAndRegions() {
        PolicyConfig c{.mode = ApprovalMode::risky, .risky_regions = {{100, 100, 50, 50}}};
        QVERIFY(evaluate(c, click(10, 10)).kind == Kind::allow);
        QVERIFY(evaluate(c, hotkey({"ctrl", "s"})).kind == Kind::needs_approval);
        QVERIFY(evaluate(c, type("hello")).kind == Kind::allow);
        QVERIFY(evaluate(c, type("hello\n")).kind == Kind::needs_approval);
        const auto d = evaluate(c, click(120, 130));
        QVERIFY(d.kind == Kind::needs_approval);
        QVERIFY(d.reason.find("100,100 50x50") != std::string::npos);
    }

    void denyRulesWinOverApproval() {
        PolicyConfig c{
            .mode = ApprovalMode::each, .deny_regions = {{0, 0, 20, 20}}, .max_typed_length = 5};
        QVERIFY(evaluate(c, click(5, 5)).kind == Kind::deny);
        // Order and spelling of the keys do not matter.
        const auto d = evaluate(c, hotkey({"Delete", "Control", "ALT"}));
        QVERIFY(d.kind == Kind::deny);
        QVERIFY(d.reason.find("denied") != std::string::npos);
        QVERIFY(evaluate(c, type("héllo")).kind == Kind::needs_approval);  // 5 code points, 6 bytes
        QVERIFY(evaluate(c, type("héllo!")).kind == Kind::deny);
        // A drag that ends in a denied region is denied too.
        Action drag{.type = ActionType::drag,
                    .point = vision::Point{100, 100},
                    .end = vision::Point{10, 10}};
        QVERIFY(evaluate(c, drag).kind == Kind::deny);
    }

    void loopDetectorFiresOnTheThirdIneffectiveRepeat() {
        LoopDetector loop(3);
        QVERIFY(!loop.observe(click(1, 1), false));
        QVERIFY(!loop.observe(click(1, 1), false));
        const auto message = loop.observe(click(1, 1), false);
        QVERIFY(message.has_value());
        QVERIFY(message->find("\"click\"") != std::string::npos);
    }

    void loopDetectorForgivesChangeAndVariety() {
        LoopDetector loop(3);
        QVERIFY(!loop.observe(click(1, 1), false));
        QVERIFY(!loop.observe(click(1, 1), true));  // the screen changed: not a loop
        QVERIFY(!loop.observe(click(1, 1), false));
        QVERIFY(!loop.observe(click(2, 1), false));  // another place
        QVERIFY(!loop.observe(click(2, 1), false));
        QVERIFY(loop.observe(click(2, 1), false).has_value());
    }
};

QTEST_APPLESS_MAIN(PolicyTest)
#include "test_policy.moc"
