// planner::Action and its JSON form (DESIGN.md, "Conventions").
#include <QtTest>

#include <nlohmann/json.hpp>

#include "planner/action.h"

using namespace deskpilot::planner;
using nlohmann::json;

class ActionTest : public QObject {
    Q_OBJECT
  private slots:
    void roundTripsEveryType_data() {
        QTest::addColumn<QString>("text");
        QTest::newRow("click") << R"({"type":"click","x":100,"y":200})";
        QTest::newRow("drag") << R"({"type":"drag","x":10,"y":10,"x2":300,"y2":10})";
        QTest::newRow("hotkey") << R"({"type":"hotkey","keys":["ctrl","s"]})";
        QTest::newRow("type") << R"({"type":"type","text":"Grüße\n"})";
        QTest::newRow("scroll") << R"({"type":"scroll","x":500,"y":400,"direction":"down"})";
        QTest::newRow("finished") << R"({"type":"finished","text":"done"})";
        QTest::newRow("wait") << R"({"type":"wait"})";
        QTest::newRow("open_app") << R"({"type":"open_app","app_name":"Settings"})";
        QTest::newRow("out_of_range") << R"({"type":"click","x":-5,"y":20,"out_of_range":true})";
    }

    void roundTripsEveryType() {
        QFETCH(QString, text);
        const Action action = action_from_json_text(text.toStdString());
        const json expected = json::parse(text.toStdString());
        QCOMPARE(QString::fromStdString(to_json(action).dump()),
                 QString::fromStdString(expected.dump()));
        QCOMPARE(action_from_json(to_json(action)), action);
    }

    void everyNameIsKnown() {
        for (const char* name :
             {"click", "left_double", "right_single", "drag", "hotkey", "type", "scroll", "wait",
              "finished", "call_user", "long_press", "open_app", "press_home", "press_back",
              "press", "release", "hover"}) {
            const auto type = action_type_from_string(name);
            QVERIFY2(type.has_value(), name);
            QCOMPARE(QString::fromStdString(std::string(to_string(*type))), QString(name));
        }
    }

    void badActionsNameTheProblem_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("expected");
        QTest::newRow("not json") << "{click"
                                  << "invalid action JSON";
        QTest::newRow("not object") << "[1,2]"
                                    << "must be a JSON object";
        QTest::newRow("no type") << R"({"x":1})"
                                 << "needs a \"type\"";
        QTest::newRow("unknown type") << R"({"type":"teleport"})"
                                      << "unknown action type \"teleport\"";
        QTest::newRow("missing y") << R"({"type":"click","x":1})"
                                   << "needs \"y\"";
        QTest::newRow("string x") << R"({"type":"click","x":"1","y":2})"
                                  << "\"x\" must be a number";
        QTest::newRow("empty keys") << R"({"type":"hotkey","keys":[]})"
                                    << "non-empty list";
        QTest::newRow("bad direction") << R"({"type":"scroll","x":1,"y":2,"direction":"sideways"})"
                                       << "sideways";
        QTest::newRow("missing text") << R"({"type":"type"})"
                                      << "needs \"text\"";
    }

    void badActionsNameTheProblem() {
        QFETCH(QString, text);
        QFETCH(QString, expected);
        try {
            action_from_json_text(text.toStdString());
            QFAIL("expected ActionError");
        } catch (const ActionError& e) {
            QVERIFY2(QString(e.what()).contains(expected), e.what());
        }
    }
};

QTEST_APPLESS_MAIN(ActionTest)
#include "test_action.moc"
