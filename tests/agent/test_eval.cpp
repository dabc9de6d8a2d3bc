// The eval suites' pure parts: target picking, scoring, the task file and its conditions.
#include <QtTest>

#include <fstream>
#include <set>

#include "agent/eval/grounding.h"
#include "agent/eval/runner.h"
#include "agent/eval/task_set.h"

using namespace deskpilot;
using namespace deskpilot::agent::eval;
using nlohmann::json;

namespace {

json widget(const std::string& name, const std::string& role, const std::string& label, json rect,
            bool visible = true) {
    return {{"name", name}, {"role", role}, {"label", label}, {"rect", rect}, {"visible", visible}};
}

json sample_widgets() {
    json w = json::array();
    w.push_back(widget("menu_file", "menu", "File", {0, 0, 40, 20}));
    w.push_back(widget("menu_edit", "menu", "Edit", {40, 0, 40, 20}));
    w.push_back(widget("save", "button", "Save", {100, 100, 80, 30}));
    w.push_back(widget("cancel", "button", "Cancel", {200, 100, 80, 30}));
    w.push_back(widget("hidden", "button", "Hidden", {300, 100, 80, 30}, false));
    w.push_back(widget("agree", "checkbox", "I agree", {100, 200, 90, 20}));
    w.push_back(widget("advanced_option", "checkbox", "Expert mode", {100, 250, 90, 20}, false));
    w.push_back(widget("radio_1", "radio", "Small", {100, 300, 60, 20}));
    w.push_back(widget("radio_2", "radio", "Medium", {100, 320, 60, 20}));
    json tab1 = widget("tab_1", "tab", "General", {400, 100, 60, 24});
    tab1["selected"] = true;
    w.push_back(tab1);
    w.push_back(widget("tab_2", "tab", "Advanced", {460, 100, 70, 24}));
    for (int i = 1; i <= 5; ++i)
        w.push_back(widget("item_" + std::to_string(i), "list_item", "Row " + std::to_string(i),
                           {600, 100 + 20 * i, 150, 20}, i <= 3));
    return w;
}

const planner::ModelFamily& qwen3() {
    return *planner::find_family("qwen3-vl");
}

}  // namespace

class EvalTest : public QObject {
    Q_OBJECT
  private slots:
    void picksOneTargetPerRoleAndEveryVisibleButton() {
        const auto targets = pick_grounding_targets(sample_widgets(), 7);
        QStringList names;
        for (const auto& t : targets) names << QString::fromStdString(t.widget);
        QVERIFY(names.contains("save") && names.contains("cancel"));
        QVERIFY(!names.contains("hidden"));
        QVERIFY(names.contains("agree") && !names.contains("advanced_option"));
        QVERIFY(names.contains("tab_2") &&
                !names.contains("tab_1"));  // the selected tab is no target
        QCOMPARE(targets.size(),
                 std::size_t(7));  // 2 buttons, checkbox, radio, list item, tab, menu
        for (const auto& t : targets) {
            if (t.role == "list_item")
                QVERIFY(t.widget == "item_1" || t.widget == "item_2" || t.widget == "item_3");
            if (t.widget == "save")
                QCOMPARE(t.instruction, std::string("Click the \"Save\" button"));
            if (t.role == "checkbox")
                QCOMPARE(t.instruction, std::string("Click the checkbox labelled \"I agree\""));
        }
    }

    void sameSeedSameTargetsAndSeedsVary() {
        const auto a = pick_grounding_targets(sample_widgets(), 11);
        const auto b = pick_grounding_targets(sample_widgets(), 11);
        QCOMPARE(a.size(), b.size());
        for (std::size_t i = 0; i < a.size(); ++i) QCOMPARE(a[i].widget, b[i].widget);
        std::set<std::string> items;
        for (unsigned seed = 0; seed < 12; ++seed)
            for (const auto& t : pick_grounding_targets(sample_widgets(), seed))
                if (t.role == "list_item") items.insert(t.widget);
        QVERIFY(items.size() > 1);  // the seed chooses among the visible items
    }

    void malformedLayoutNamesTheWidget() {
        json w = sample_widgets();
        w[2]["rect"] = {1, 2};
        try {
            pick_grounding_targets(w, 0);
            QFAIL("no error");
        } catch (const std::invalid_argument& e) {
            QVERIFY(std::string(e.what()).find("'save'") != std::string::npos);
        }
    }

    void scoresHitsMissesAndUnparsableAnswers() {
        const planner::CoordinateMapper mapper(qwen3(), {1000, 1000});
        GroundingTarget t{
            "save", "button", "Save", {100, 100, 80, 30}, "Click the \"Save\" button"};
        // qwen3-vl: relative 0–1000, so on a 1000×1000 screen model units are pixels.
        auto hit = score_grounding(
            t, "Action: click(start_box='<|box_start|>(140,115)<|box_end|>')", mapper);
        QVERIFY(hit.hit);
        QCOMPARE(hit.distance, 0.0);
        // The parsed answer stays with the score, for the second look to read.
        QVERIFY(hit.step && hit.step->actions.size() == 1);
        QCOMPARE(hit.step->actions[0].point->x, hit.point->x);
        auto miss = score_grounding(
            t, "Action: click(start_box='<|box_start|>(140,215)<|box_end|>')", mapper);
        QVERIFY(!miss.hit);
        QCOMPARE(miss.distance, 100.0);
        auto bad = score_grounding(t, "I would click Save", mapper);
        QVERIFY(!bad.hit && !bad.point && !bad.error.empty() && !bad.step);
        auto none = score_grounding(t, "Action: hotkey(key='enter')", mapper);
        QVERIFY(!none.hit && !none.point && none.step);
        QVERIFY(none.error.find("no action with a position") != std::string::npos);
    }

    void bundledTaskFileLoads() {
        const auto tasks = load_tasks(DESKPILOT_SOURCE_DIR "/eval/tasks/sandbox.json");
        QVERIFY(tasks.size() >= 20);
        int keyboard_only = 0;
        for (const auto& t : tasks) {
            QVERIFY(!t.plan.empty());
            if (!plan_uses_pointer(t)) ++keyboard_only;
        }
        QVERIFY(keyboard_only >= 1 && keyboard_only < static_cast<int>(tasks.size()));
    }

    void badTaskFilesGiveOneClearError_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("expected");
        QTest::newRow("not json") << "{\"tasks\": ["
                                  << "not valid JSON";
        QTest::newRow("no tasks") << "{\"task\": []}"
                                  << "\"tasks\" array";
        QTest::newRow("empty") << "{\"tasks\": []}"
                               << "is empty";
        QTest::newRow("no text")
            << "{\"tasks\": [{\"id\": \"a\", \"seed\": 1, \"success\": [{\"event\": \"x\"}]}]}"
            << "('a')";
        QTest::newRow("negative seed") << "{\"tasks\": [{\"id\": \"a\", \"text\": \"t\", \"seed\": "
                                          "-1, \"success\": [{\"event\": \"x\"}]}]}"
                                       << "'seed'";
        QTest::newRow("no success")
            << "{\"tasks\": [{\"id\": \"a\", \"text\": \"t\", \"seed\": 1, \"success\": []}]}"
            << "'success'";
        QTest::newRow("condition without event")
            << "{\"tasks\": [{\"id\": \"a\", \"text\": \"t\", \"seed\": 1, \"success\": "
               "[{\"widget\": \"x\"}]}]}"
            << "\"event\"";
        QTest::newRow("duplicate id") << "{\"tasks\": [{\"id\": \"a\", \"text\": \"t\", \"seed\": "
                                         "1, \"success\": [{\"event\": "
                                         "\"x\"}]}, {\"id\": \"a\", \"text\": \"t\", \"seed\": 1, "
                                         "\"success\": [{\"event\": \"x\"}]}]}"
                                      << "used twice";
        QTest::newRow("unknown plan step") << "{\"tasks\": [{\"id\": \"a\", \"text\": \"t\", "
                                              "\"seed\": 1, \"success\": [{\"event\": "
                                              "\"x\"}], \"plan\": [{\"tap\": \"save\"}]}]}"
                                           << "unknown plan action 'tap'";
        QTest::newRow("scroll without direction")
            << "{\"tasks\": [{\"id\": \"a\", \"text\": \"t\", \"seed\": 1, \"success\": "
               "[{\"event\": \"x\"}], \"plan\": [{\"scroll\": "
               "\"list\"}]}]}"
            << "direction";
        QTest::newRow("zero steps") << "{\"tasks\": [{\"id\": \"a\", \"text\": \"t\", \"seed\": 1, "
                                       "\"max_steps\": 0, \"success\": "
                                       "[{\"event\": \"x\"}]}]}"
                                    << "max_steps";
    }
    void badTaskFilesGiveOneClearError() {
        QFETCH(QString, text);
        QFETCH(QString, expected);
        QTemporaryDir dir;
        const std::string path = dir.filePath("tasks.json").toStdString();
        std::ofstream(path) << text.toStdString();
        try {
            load_tasks(path);
            QFAIL("no error");
        } catch (const EvalError& e) {
            const std::string message = e.what();
            QVERIFY2(message.find(path) != std::string::npos, message.c_str());
            QVERIFY2(message.find(expected.toStdString()) != std::string::npos, message.c_str());
        }
        QVERIFY_THROWS_EXCEPTION(EvalError, load_tasks(dir.filePath("missing.json").toStdString()));
    }

    void conditionsAndLabels() {
        const auto tasks = parse_tasks(
            json::parse("{\"tasks\": [{\"id\": \"t\", \"seed\": 1, \"text\": \"Click "
                        "'{label:save}' then '{label:agree}'.\", \"success\": "
                        "[{\"event\": \"text\", \"widget\": \"name\", \"value\": \"Ada\"}, "
                        "{\"event\": \"scroll\", \"value\": {\">=\": 3}}]}]}"));
        const auto& t = tasks.at(0);
        QCOMPARE(render_task_text(t, sample_widgets()),
                 std::string("Click 'Save' then 'I agree'."));
        EvalTask missing = t;
        missing.text = "Use {label:nowhere}";
        QVERIFY_THROWS_EXCEPTION(EvalError, render_task_text(missing, sample_widgets()));

        std::vector<json> events = {{{"event", "text"}, {"widget", "name"}, {"value", "Ad"}},
                                    {{"event", "scroll"}, {"value", 2}}};
        QVERIFY(unmet_conditions(t, events).find("Ada") != std::string::npos);
        QVERIFY(unmet_conditions(t, events).find("scroll") != std::string::npos);
        events.push_back({{"event", "text"}, {"widget", "name"}, {"value", "Ada"}});
        events.push_back({{"event", "scroll"}, {"widget", "list"}, {"value", 3}});
        QCOMPARE(unmet_conditions(t, events), std::string());
    }

    void summariesAndMarkdown() {
        QCOMPARE(median({}), 0.0);
        QCOMPARE(median({3, 1, 2}), 2.0);
        QCOMPARE(median({4, 1, 2, 3}), 2.5);
        const json items = json::parse(
            "[{\"targets\": [{\"role\": \"button\", \"hit\": true}, {\"role\": \"button\", "
            "\"hit\": false, \"point\": [0,0], "
            "\"distance\": 30}, {\"role\": \"tab\", \"hit\": false, \"distance\": 0}]}]");
        const json s = summarize_grounding(items);
        QCOMPARE(s["overall"]["targets"].get<int>(), 3);
        QCOMPARE(s["overall"]["hits"].get<int>(), 1);
        QCOMPARE(s["by_role"]["button"]["accuracy"].get<double>(), 0.5);
        QCOMPARE(s["by_role"]["button"]["median_miss_distance"].get<double>(), 30.0);
        QCOMPARE(s["by_role"]["tab"]["misses_with_point"].get<int>(), 0);  // no point: no distance
        const std::string md = results_markdown(
            {{"suite", "grounding"}, {"model", "m"}, {"family", "f"}, {"summary", s}});
        QVERIFY(md.find("| button | 2 | 1 | 50.0% | 30.0 |") != std::string::npos);

        const json runs = json::parse(
            "[{\"task\": \"a\", \"success\": true, \"steps\": 3, \"step_ms\": [10, 20, 30], "
            "\"model_ms\": "
            "[5, 5, 5]}, {\"task\": \"a\", \"success\": false, \"steps\": 5}]");
        const json t = summarize_tasks(runs);
        QCOMPARE(t["overall"]["success_rate"].get<double>(), 0.5);
        QCOMPARE(t["overall"]["median_steps"].get<double>(), 4.0);
        QCOMPARE(t["overall"]["median_step_ms"].get<double>(), 20.0);
        QCOMPARE(t["by_task"]["a"]["model_ms_per_run"].get<double>(), 7.5);
    }

    void badOptionsAreRefused() {
        EvalOptions o;
        o.out_dir = "/tmp/x";
        QVERIFY_THROWS_EXCEPTION(EvalError, run_grounding(o));  // no model
        o.make_model = [](int) -> std::unique_ptr<model::Vlm> { return nullptr; };
        o.family = "gpt-9";
        QVERIFY_THROWS_EXCEPTION(EvalError, run_grounding(o));
        o.family = "ui-tars-1.5";
        o.jobs = 0;
        QVERIFY_THROWS_EXCEPTION(EvalError, run_grounding(o));
        o.jobs = 1;
        o.seeds.clear();
        QVERIFY_THROWS_EXCEPTION(EvalError, run_grounding(o));
    }
};

QTEST_GUILESS_MAIN(EvalTest)
#include "test_eval.moc"
