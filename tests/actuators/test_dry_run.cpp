// DryRunActuator records, in order, what it would have done.
#include <QtTest>

#include "actuators/dry_run_actuator.h"

using namespace deskpilot::actuators;

class DryRunTest : public QObject {
    Q_OBJECT
  private slots:
    void recordsEveryCallInOrder() {
        DryRunActuator a;
        a.click({10, 20}, MouseButton::left, 2);
        a.drag({1, 2}, {3, 4}, MouseButton::left);
        a.scroll({5, 6}, ScrollDirection::right, 3);
        a.hotkey({"ctrl", "s"});
        a.type_text("hi\n");
        const std::vector<std::string> expected = {
            "click left x2 at (10,20)", "drag left from (1,2) to (3,4)", "scroll right x3 at (5,6)",
            "hotkey ctrl s", "type hi\n"};
        QCOMPARE(a.log(), expected);
    }
};

QTEST_APPLESS_MAIN(DryRunTest)
#include "test_dry_run.moc"
