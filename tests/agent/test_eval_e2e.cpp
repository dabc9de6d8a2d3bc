// The eval suites end to end (label x11): private Xvfb displays, the real sandbox, the real
// agent, RemoteVlm over loopback HTTP to a scripted model. An "oracle" model that answers from
// the live layout JSON must score 100%; a "noisy" one that moves every point by a set offset
// must score what the offset implies. This proves the scoring, not a model.
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "agent/eval/runner.h"
#include "agent_fixture.h"
#include "vision/compare.h"
#include "vision/image_io.h"
#include "vision/image_ops.h"

using namespace deskpilot;
using namespace deskpilot::testing;
using namespace deskpilot::agent::eval;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const vision::Size kScreen{1280, 800};

// The scripted model. Each job's RemoteVlm sends "X-Eval-Job: N", and the runner tells us which
// sandbox and item job N is on, so answers come from that sandbox's live layout.
class Oracle {
  public:
    explicit Oracle(vision::Point offset = {0, 0}) : offset_(offset) {
        server.set_handler([this](const RecordedRequest& r) { return answer(r); });
    }

    OpenAiServer server;
    std::map<std::string, EvalTask> tasks;

    EvalOptions options(const std::filesystem::path& out) {
        EvalOptions o;
        o.family = "ui-tars-1.5";
        o.model_name = "oracle";
        o.out_dir = out;
        o.screen = kScreen;
        o.sandbox = sandbox_executable();
        const std::string url = server.base_url();
        o.make_model = [url](int job) {
            model::RemoteConfig c{.endpoint = url, .model = "ui-tars-1.5-7b"};
            c.headers.push_back({"X-Eval-Job", std::to_string(job)});
            return std::make_unique<model::RemoteVlm>(c);
        };
        o.on_item = [this](int job, const agent::SandboxProcess& sandbox, const json& item) {
            std::lock_guard lock(mutex_);
            jobs_[job] = {&sandbox, item};
        };
        return o;
    }

  private:
    ScriptedReply answer(const RecordedRequest& r) {
        std::pair<const agent::SandboxProcess*, json> current;
        {
            std::lock_guard lock(mutex_);
            current = jobs_.at(std::stoi(r.header("x-eval-job")));
        }
        const vision::Size image = data_url_image_size(r.image_urls().back());
        if (current.second.at("suite") == "grounding") return grounding(*current.first, r, image);
        return task_step(*current.first, tasks.at(current.second.at("task").get<std::string>()), r,
                         image);
    }

    // Where the widget called `name` is now; menus and dialogs may take a moment to appear in
    // the layout after the agent saw them on screen.
    vision::Point find(const agent::SandboxProcess& sandbox, const std::string& name) {
        for (int i = 0; i < 100; ++i) {
            for (const auto& w : sandbox.widgets())
                if (w.value("name", "") == name && w.value("visible", false)) {
                    const auto& b = w.at("rect");
                    return {b[0].get<int>() + b[2].get<int>() / 2,
                            b[1].get<int>() + b[3].get<int>() / 2};
                }
            std::this_thread::sleep_for(20ms);
        }
        throw std::runtime_error("oracle: no visible widget '" + name + "'");
    }

    // The point moved by the offset, mirrored back onto the screen where it would leave it.
    vision::Point moved(vision::Point p) const {
        vision::Point q{p.x + offset_.x, p.y + offset_.y};
        if (q.x < 0 || q.x >= kScreen.width) q.x = p.x - offset_.x;
        if (q.y < 0 || q.y >= kScreen.height) q.y = p.y - offset_.y;
        return q;
    }

    std::string at(vision::Point p, vision::Size image) const {
        return box(moved(p), kScreen, image);
    }

    ScriptedReply grounding(const agent::SandboxProcess& sandbox, const RecordedRequest& r,
                            vision::Size image) {
        const std::string text = r.all_text();
        const auto start = text.find("## User Instruction\n");
        const std::string instruction =
            text.substr(start + 20, text.find('\n', start + 20) - start - 20);
        const auto q1 = instruction.find('"'), q2 = instruction.rfind('"');
        const std::string label = instruction.substr(q1 + 1, q2 - q1 - 1);
        auto ends = [&](const std::string& s) {
            return instruction.size() >= s.size() &&
                   instruction.compare(instruction.size() - s.size(), s.size(), s) == 0;
        };
        const std::string role = instruction.find("checkbox") != std::string::npos ? "checkbox"
                                 : ends("radio button")                            ? "radio"
                                 : ends("in the list")                             ? "list_item"
                                 : ends(" tab")                                    ? "tab"
                                 : ends(" menu")                                   ? "menu"
                                                                                   : "button";
        for (const auto& w : sandbox.widgets())
            if (w.value("role", "") == role && w.value("label", "") == label &&
                w.value("visible", false)) {
                const auto& b = w.at("rect");
                const vision::Point c{b[0].get<int>() + b[2].get<int>() / 2,
                                      b[1].get<int>() + b[3].get<int>() / 2};
                return ScriptedReply::answer("Action: click(start_box=" + at(c, image) + ")");
            }
        return ScriptedReply::answer("Action: click(start_box='<|box_start|>(0,0)<|box_end|>')");
    }

    ScriptedReply task_step(const agent::SandboxProcess& sandbox, const EvalTask& task,
                            const RecordedRequest& r, vision::Size image) {
        const auto turn = static_cast<std::size_t>(assistant_turns(r));
        if (turn >= task.plan.size())
            return ScriptedReply::answer("Thought: Done.\nAction: finished(content='done')");
        const json& step = task.plan[turn];
        std::string action;
        if (step.contains("click"))
            action = "click(start_box=" + at(find(sandbox, step["click"]), image) + ")";
        if (step.contains("double_click"))
            action =
                "left_double(start_box=" + at(find(sandbox, step["double_click"]), image) + ")";
        if (step.contains("right_click"))
            action =
                "right_single(start_box=" + at(find(sandbox, step["right_click"]), image) + ")";
        if (step.contains("scroll"))
            action = "scroll(start_box=" + at(find(sandbox, step["scroll"]), image) +
                     ", direction='" + step["direction"].get<std::string>() + "')";
        if (step.contains("hotkey"))
            action = "hotkey(key='" + step["hotkey"].get<std::string>() + "')";
        if (step.contains("type")) {
            std::string content;
            for (char c : step["type"].get<std::string>())
                content += c == '\n' ? std::string("\\n") : std::string(1, c);
            action = "type(content='" + content + "')";
        }
        return ScriptedReply::answer("Thought: Step " + std::to_string(turn + 1) +
                                     ".\nAction: " + action);
    }

    vision::Point offset_;
    std::mutex mutex_;
    std::map<int, std::pair<const agent::SandboxProcess*, json>> jobs_;
};

std::vector<EvalTask> bundled(const std::vector<std::string>& ids) {
    const auto all = load_tasks(DESKPILOT_SOURCE_DIR "/eval/tasks/sandbox.json");
    std::vector<EvalTask> chosen;
    for (const auto& id : ids)
        for (const auto& t : all)
            if (t.id == id) chosen.push_back(t);
    return chosen;
}

double accuracy(const json& results) {
    return results["summary"]["overall"]["accuracy"].get<double>();
}

}  // namespace

class EvalE2eTest : public QObject {
    Q_OBJECT
  private slots:
    void oracleScoresEverythingOnGrounding() {
        Oracle oracle;
        QTemporaryDir out;
        auto o = oracle.options(out.path().toStdString());
        o.seeds = {1, 2, 3};
        o.jobs = 2;
        const json results = run_grounding(o);
        QVERIFY2(accuracy(results) == 1.0, results.dump(1).c_str());
        const json& roles = results["summary"]["by_role"];
        for (const std::string role : {"button", "checkbox", "radio", "list_item", "tab", "menu"}) {
            QVERIFY2(roles.contains(role), role.c_str());
            QCOMPARE(roles[role]["accuracy"].get<double>(), 1.0);
        }
        QCOMPARE(results["summary"]["overall"]["targets"].get<int>(), 3 * 9);
        std::set<int> jobs;
        for (const auto& item : results["items"]) {
            jobs.insert(item["job"].get<int>());
            QVERIFY(std::filesystem::exists(out.path().toStdString() + "/" +
                                            item["screenshot"].get<std::string>()));
            QVERIFY(std::filesystem::exists(out.path().toStdString() + "/" +
                                            item["answers_image"].get<std::string>()));
            // UI-TARS-1.5 sees 1280x800 smart-resized to multiples of 28.
            QCOMPARE(item["screen_size"], json::array({1280, 800}));
            QCOMPARE(item["model_image"], json::array({1288, 812}));
        }
        QCOMPARE(jobs.size(), std::size_t(2));
        const std::string md = results_markdown(results);
        QVERIFY(md.find("| **all** | 27 | 27 | 100.0% |") != std::string::npos);
    }

    void sameSeedSameScreenAndTargets() {
        // Seed 5 rendered twice at once, by two jobs on two displays.
        Oracle oracle;
        QTemporaryDir out;
        auto o = oracle.options(out.path().toStdString());
        o.seeds = {5};
        o.repeat = 2;
        o.jobs = 2;
        const json results = run_grounding(o);
        const json& a = results["items"][0];
        const json& b = results["items"][1];
        QVERIFY(a["job"] != b["job"]);
        QCOMPARE(a["targets"].size(), b["targets"].size());
        for (std::size_t i = 0; i < a["targets"].size(); ++i) {
            QCOMPARE(a["targets"][i]["widget"], b["targets"][i]["widget"]);
            QCOMPARE(a["targets"][i]["rect"], b["targets"][i]["rect"]);
            QCOMPARE(a["targets"][i]["instruction"], b["targets"][i]["instruction"]);
        }
        const auto fa =
            vision::read_image(out.path().toStdString() + "/" + a["screenshot"].get<std::string>());
        const auto fb =
            vision::read_image(out.path().toStdString() + "/" + b["screenshot"].get<std::string>());
        QVERIFY2(vision::changed_fraction(fa, fb) < 0.001,
                 std::to_string(vision::changed_fraction(fa, fb)).c_str());
        QCOMPARE(results["summary"]["accuracy_per_repeat"], json({1.0, 1.0}));
    }

    void noisyModelScoresWhatItsOffsetImplies() {
        {
            // 400 px right, 300 down: 500 px from every centre, farther than any target is big.
            Oracle noisy({400, 300});
            QTemporaryDir out;
            auto o = noisy.options(out.path().toStdString());
            o.seeds = {1, 2};
            const json results = run_grounding(o);
            QCOMPARE(accuracy(results), 0.0);
            const double d = results["summary"]["overall"]["median_miss_distance"].get<double>();
            QVERIFY2(std::abs(d - 500.0) <= 2.0, std::to_string(d).c_str());
        }
        {
            // 2 px: inside every target still.
            Oracle noisy({2, 1});
            QTemporaryDir out;
            auto o = noisy.options(out.path().toStdString());
            o.seeds = {1};
            QCOMPARE(accuracy(run_grounding(o)), 1.0);
        }
    }

    // --window-offset: the sandbox window really moves (the screenshot's content and every
    // target's rectangle move by the offset), the oracle still scores everything, and a target
    // the move takes off the screen is listed, not asked.
    void movedWindowMovesTheScreenAndTheTargets() {
        Oracle oracle;
        QTemporaryDir out_still, out_moved, out_up;
        auto still = oracle.options(out_still.path().toStdString());
        still.seeds = {1};
        const json a = run_grounding(still);
        auto moved = oracle.options(out_moved.path().toStdString());
        moved.seeds = {1};
        moved.window_offset = {48, 36};
        const json b = run_grounding(moved);
        QVERIFY2(accuracy(b) == 1.0, b.dump(1).c_str());
        QCOMPARE(b["window_offset"], json({48, 36}));
        QVERIFY(!a.contains("window_offset"));
        QVERIFY(results_markdown(b).find("sandbox window moved to 48,36") != std::string::npos);

        std::map<std::string, json> rects;
        for (const auto& t : a["items"][0]["targets"]) rects[t["widget"]] = t["rect"];
        const json& moved_targets = b["items"][0]["targets"];
        QCOMPARE(moved_targets.size(), rects.size());  // nothing left the screen going down-right
        for (const auto& t : moved_targets) {
            const json& r = rects.at(t["widget"]);
            QCOMPARE(t["rect"], json({r[0].get<int>() + 48, r[1].get<int>() + 36, r[2], r[3]}));
        }
        const auto image = [](const QTemporaryDir& dir, const json& results) {
            return vision::read_image(dir.path().toStdString() + "/" +
                                      results["items"][0]["screenshot"].get<std::string>());
        };
        const vision::Frame fa = image(out_still, a), fb = image(out_moved, b);
        const int w = kScreen.width - 48, h = kScreen.height - 36;
        const double same = vision::changed_fraction(vision::crop(fa, {0, 0, w, h}),
                                                     vision::crop(fb, {48, 36, w, h}));
        QVERIFY2(same < 0.001, std::to_string(same).c_str());
        const double unmoved = vision::changed_fraction(vision::crop(fa, {0, 0, w, h}),
                                                        vision::crop(fb, {0, 0, w, h}));
        QVERIFY2(unmoved > 0.05, std::to_string(unmoved).c_str());

        // Up and left: the menu bar (and whatever sat within 40 px of the left edge) leaves the
        // screen, so those targets are not asked.
        auto up = oracle.options(out_up.path().toStdString());
        up.seeds = {1};
        up.window_offset = {-40, -30};
        const json c = run_grounding(up);
        QVERIFY2(accuracy(c) == 1.0, c.dump(1).c_str());
        const json& off = c["items"][0]["off_screen"];
        QVERIFY2(
            std::any_of(off.begin(), off.end(),
                        [](const json& w) { return w.get<std::string>().rfind("menu_", 0) == 0; }),
            c.dump(1).c_str());
        QCOMPARE(c["summary"]["targets_off_screen"].get<std::size_t>(), off.size());
        QCOMPARE(c["summary"]["overall"]["targets"].get<std::size_t>() + off.size(), rects.size());
        QVERIFY(results_markdown(c).find("not asked") != std::string::npos);

        // The agent, too, clicks where the moved widgets are.
        for (const auto& t : bundled({"name-save", "tick-agree"})) oracle.tasks[t.id] = t;
        QTemporaryDir out_tasks;
        auto tasks = oracle.options(out_tasks.path().toStdString());
        tasks.window_offset = {48, 36};
        tasks.jobs = 2;
        const json done = run_tasks(tasks, bundled({"name-save", "tick-agree"}));
        QVERIFY2(done["summary"]["overall"]["success_rate"].get<double>() == 1.0,
                 done.dump(1).c_str());
        QCOMPARE(done["window_offset"], json({48, 36}));

        // An offset that leaves no window on the screen is refused before any display starts.
        tasks.window_offset = {0, -800};
        try {
            run_grounding(tasks);
            QFAIL("no error");
        } catch (const EvalError& e) {
            QVERIFY2(std::string(e.what()).find("window offset 0,-800") != std::string::npos,
                     e.what());
        }
    }

    void oracleCompletesTasks() {
        Oracle oracle;
        for (const auto& t : bundled({"name-save", "menu-save", "context-rename", "tab-option",
                                      "shortcut-save", "dialog-code"}))
            oracle.tasks[t.id] = t;
        QTemporaryDir out;
        auto o = oracle.options(out.path().toStdString());
        o.jobs = 2;
        std::vector<EvalTask> tasks;
        for (const auto& [id, t] : oracle.tasks) tasks.push_back(t);
        const json results = run_tasks(o, tasks);
        QVERIFY2(results["summary"]["overall"]["success_rate"].get<double>() == 1.0,
                 results.dump(1).c_str());
        for (const auto& item : results["items"]) {
            const EvalTask& t = oracle.tasks.at(item["task"].get<std::string>());
            QCOMPARE(item["steps"].get<int>(),
                     static_cast<int>(t.plan.size()) + 1);  // the plan, then finished
            QCOMPARE(item["status"].get<std::string>(), std::string("finished"));
            QVERIFY(std::filesystem::exists(out.path().toStdString() + "/" +
                                            item["session"].get<std::string>() + "/steps.jsonl"));
        }
        QVERIFY(results["summary"]["overall"]["median_step_ms"].get<double>() > 0);
        QVERIFY(results_markdown(results).find("| **all** | 6 | 100.0% |") != std::string::npos);
    }

    // Every bundled task, and 60 grounding screens, with the oracle: proves the task data (plans
    // and conditions agree with the sandbox) and the targets on many seeds. Slow for CI, so only
    // with DESKPILOT_EVAL_FULL=1.
    void oracleCompletesEveryBundledTask() {
        if (qEnvironmentVariableIntValue("DESKPILOT_EVAL_FULL") != 1)
            QSKIP("set DESKPILOT_EVAL_FULL=1 to run all tasks");
        Oracle oracle;
        const auto tasks = load_tasks(DESKPILOT_SOURCE_DIR "/eval/tasks/sandbox.json");
        for (const auto& t : tasks) oracle.tasks[t.id] = t;
        QTemporaryDir out;
        auto o = oracle.options(out.path().toStdString());
        o.jobs = 3;
        const json results = run_tasks(o, tasks);
        qInfo("%s", results_markdown(results).c_str());
        QVERIFY2(results["summary"]["overall"]["success_rate"].get<double>() == 1.0,
                 results.dump(1).c_str());

        QTemporaryDir grounding_out;
        auto g = oracle.options(grounding_out.path().toStdString());
        g.jobs = 4;
        for (unsigned seed = 0; seed < 60; ++seed) g.seeds.push_back(seed);
        const json grounding = run_grounding(g);
        qInfo("%s", results_markdown(grounding).c_str());
        QCOMPARE(accuracy(grounding), 1.0);
    }

    void noisyModelFailsThePointingTasks() {
        Oracle noisy({400, 300});
        const auto tasks = bundled({"shortcut-save", "tick-agree", "second-tab"});
        for (const auto& t : tasks) noisy.tasks[t.id] = t;
        QTemporaryDir out;
        const json results = run_tasks(noisy.options(out.path().toStdString()), tasks);
        // Only the keyboard-only task can succeed.
        for (const auto& item : results["items"])
            QCOMPARE(item["success"].get<bool>(),
                     !plan_uses_pointer(noisy.tasks.at(item["task"].get<std::string>())));
        QCOMPARE(results["summary"]["overall"]["successes"].get<int>(), 1);
    }

    void aJobThatCannotStartLeavesItsShareToTheOthers() {
        Oracle oracle;
        QTemporaryDir out;
        auto o = oracle.options(out.path().toStdString());
        auto make = o.make_model;
        o.make_model = [make](int job) -> std::unique_ptr<model::Vlm> {
            if (job == 1) throw model::ModelError("job 1 has no model");
            return make(job);
        };
        o.seeds = {1, 2};
        o.jobs = 2;
        const json results = run_grounding(o);
        QCOMPARE(accuracy(results), 1.0);
        QCOMPARE(results["job_errors"], json({"job 1: job 1 has no model"}));
        for (const auto& item : results["items"]) QCOMPARE(item["job"].get<int>(), 0);

        o.make_model = [](int) -> std::unique_ptr<model::Vlm> {
            throw model::ModelError("no model at all");
        };
        try {
            run_grounding(o);
            QFAIL("no error");
        } catch (const EvalError& e) {
            QVERIFY(std::string(e.what()).find("no model at all") != std::string::npos);
        }
    }

    void unreachableModelIsRecordedPerItem() {
        Oracle oracle;
        QTemporaryDir out;
        auto o = oracle.options(out.path().toStdString());
        o.make_model = [](int) {
            return std::make_unique<model::RemoteVlm>(model::RemoteConfig{
                .endpoint = "http://127.0.0.1:1/v1", .model = "m", .retry = {.max_retries = 0}});
        };
        o.seeds = {1};
        const json results = run_grounding(o);
        QCOMPARE(accuracy(results), 0.0);
        for (const auto& t : results["items"][0]["targets"])
            QVERIFY(t["error"].get<std::string>().rfind("model: ", 0) == 0);
    }
};

QTEST_GUILESS_MAIN(EvalE2eTest)
#include "test_eval_e2e.moc"
