#include "agent/eval/runner.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

#include "actuators/x11_actuator.h"
#include "agent/agent_loop.h"
#include "agent/eval/grounding.h"
#include "agent/private_display.h"
#include "agent/second_look.h"
#include "agent/timing.h"
#include "planner/conversation.h"
#include "planner/parser.h"
#include "vision/image_io.h"
#include "vision/image_ops.h"
#include "vision/x11_screen_source.h"

namespace deskpilot::agent::eval {
namespace {

using nlohmann::json;

bool on_screen(const vision::Rect& r, vision::Size screen) {
    return r.x >= 0 && r.y >= 0 && r.x + r.width <= screen.width && r.y + r.height <= screen.height;
}

void check_options(const EvalOptions& o) {
    if (!planner::find_family(o.family))
        throw EvalError("unknown family '" + o.family + "' (known: " + planner::family_names() +
                        ")");
    if (!o.make_model) throw EvalError("no model: make_model is not set");
    if (o.jobs < 1) throw EvalError("jobs must be at least 1");
    if (o.repeat < 1) throw EvalError("repeat must be at least 1");
    if (o.out_dir.empty()) throw EvalError("no output folder for screenshots and sessions");
    if (const std::string problem = window_offset_problem(o.window_offset, o.screen);
        !problem.empty())
        throw EvalError("window offset " + std::to_string(o.window_offset.x) + "," +
                        std::to_string(o.window_offset.y) + " " + problem);
}

// Runs `count` items on `jobs` threads, each with its own Xvfb display and model. `work` fills
// in its item; an exception from it is recorded as the item's error. A job whose display or
// model cannot start leaves its share to the others (its error is returned); when none starts,
// that is an EvalError.
std::vector<std::string> run_parallel(
    const EvalOptions& o, std::vector<json>& items,
    const std::function<void(int job, PrivateDisplay&, model::Vlm&, json& item)>& work) {
    std::atomic<std::size_t> next{0};
    std::mutex mutex;
    std::vector<std::string> job_errors;
    int started = 0;
    const int jobs =
        std::min<int>(o.jobs, static_cast<int>(std::max<std::size_t>(items.size(), 1)));
    std::vector<std::thread> threads;
    for (int job = 0; job < jobs; ++job)
        threads.emplace_back([&, job] {
            std::unique_ptr<PrivateDisplay> display;
            std::unique_ptr<model::Vlm> model;
            try {
                display = std::make_unique<PrivateDisplay>(XvfbOptions{.screens = {o.screen}});
                model = o.make_model(job);
            } catch (const std::exception& e) {
                std::lock_guard lock(mutex);
                job_errors.push_back("job " + std::to_string(job) + ": " + e.what());
                return;
            }
            {
                std::lock_guard lock(mutex);
                ++started;
            }
            for (std::size_t i = next++; i < items.size(); i = next++) {
                json& item = items[i];
                const auto start = Clock::now();
                try {
                    work(job, *display, *model, item);
                } catch (const std::exception& e) {
                    item["error"] = e.what();
                }
                item["job"] = job;
                item["wall_ms"] = ms_since(start);
                if (o.progress) {
                    std::lock_guard lock(mutex);
                    o.progress(item.dump(-1, ' ', false, json::error_handler_t::replace));
                }
            }
        });
    for (auto& t : threads) t.join();
    if (started == 0) throw EvalError(job_errors.empty() ? "no job started" : job_errors.front());
    return job_errors;
}

SandboxOptions sandbox_options(const EvalOptions& o, const PrivateDisplay& display, unsigned seed,
                               const std::filesystem::path& work_dir) {
    SandboxOptions s;
    s.executable = o.sandbox;
    s.display = display.name();
    s.work_dir = work_dir;
    s.seed = seed;
    s.geometry =
        vision::Rect{o.window_offset.x, o.window_offset.y, o.screen.width, o.screen.height};
    return s;
}

json rect_json(const vision::Rect& r) {
    return {r.x, r.y, r.width, r.height};
}

std::string percent(double fraction) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * fraction);
    return buf;
}

std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v);
    return buf;
}

// Collects each recorded step's timings.
class StepTimes : public AgentObserver {
  public:
    void on_step_recorded(const StepRecord& s) override {
        latency_ms.push_back(s.capture_ms + s.model_ms + s.act_ms + s.settle_ms);
        model_ms.push_back(s.model_ms);
    }
    std::vector<double> latency_ms, model_ms;
};

}  // namespace

std::string window_offset_problem(vision::Point offset, vision::Size screen) {
    if (std::abs(offset.x) < screen.width && std::abs(offset.y) < screen.height) return "";
    return "leaves none of the " + std::to_string(screen.width) + "x" +
           std::to_string(screen.height) + " sandbox window on the screen";
}

double median(std::vector<double> values) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// ---- grounding ----------------------------------------------------------------------------

json summarize_grounding(const json& items) {
    struct Tally {
        int n = 0, hits = 0;
        std::vector<double> miss;
    };
    Tally all;
    std::map<std::string, Tally> roles;
    for (const auto& seed_item : items)
        for (const auto& t : seed_item.value("targets", json::array())) {
            for (Tally* tally : {&all, &roles[t.value("role", std::string())]}) {
                ++tally->n;
                if (t.value("hit", false))
                    ++tally->hits;
                else if (t.contains("point"))
                    tally->miss.push_back(t.value("distance", 0.0));
            }
        }
    auto summary = [](const Tally& t) {
        return json{{"targets", t.n},
                    {"hits", t.hits},
                    {"accuracy", t.n ? static_cast<double>(t.hits) / t.n : 0.0},
                    {"misses_with_point", t.miss.size()},
                    {"median_miss_distance", median(t.miss)}};
    };
    json by_role = json::object();
    for (const auto& [role, tally] : roles) by_role[role] = summary(tally);
    int errors = 0, off_screen = 0;
    for (const auto& i : items) {
        if (i.contains("error")) ++errors;
        off_screen += static_cast<int>(i.value("off_screen", json::array()).size());
    }
    return {{"overall", summary(all)},
            {"by_role", by_role},
            {"failed_screens", errors},
            {"targets_off_screen", off_screen}};
}

// The second look at a grounding answer (agent/second_look.h): the score of the point it gives,
// or the first look's when it gives none; what it asked and answered goes into `t`. It looks at
// the answer as the first score parsed it.
GroundingScore second_look_score(model::Vlm& vlm, const planner::Request& request,
                                 const vision::Frame& frame, const GroundingTarget& target,
                                 const GroundingScore& first, const planner::ModelFamily& family,
                                 const model::GenerateOptions& generate, json& t) {
    if (!first.step || !wants_second_look(*first.step)) return first;
    model::CancelToken cancel;
    const SecondLook look = look_again(vlm, request, frame, *first.step, family, generate, cancel);
    t["first_point"] = {first.point->x, first.point->y};
    t["first_hit"] = first.hit;
    json second = {{"region", rect_json(look.region)},
                   {"response", look.response},
                   {"model_ms", look.model_ms}};
    if (!look.error.empty()) second["error"] = look.error;
    t["second_look"] = std::move(second);
    t["model_ms"] = t.value("model_ms", 0.0) + look.model_ms;
    return look.point ? score_point(target, *look.point) : first;
}

json run_grounding(const EvalOptions& o) {
    check_options(o);
    if (o.seeds.empty()) throw EvalError("no seeds to evaluate");
    const planner::ModelFamily& named = *planner::find_family(o.family);
    std::vector<json> items;
    for (int r = 0; r < o.repeat; ++r)
        for (unsigned seed : o.seeds) items.push_back({{"repeat", r}, {"seed", seed}});

    const auto start = Clock::now();
    const auto job_errors =
        run_parallel(o, items, [&](int job, PrivateDisplay& display, model::Vlm& vlm, json& item) {
            const unsigned seed = item.at("seed").get<unsigned>();
            // As the model sees screenshots (AgentLoop does the same for tasks).
            const planner::ModelFamily family =
                planner::with_pixel_cap(vlm.family_as_seen(named), o.max_pixels);
            const auto dir = o.out_dir / "grounding" /
                             ("repeat-" + std::to_string(item.at("repeat").get<int>())) /
                             ("seed-" + std::to_string(seed));
            std::filesystem::create_directories(dir);
            SandboxProcess sandbox(sandbox_options(o, display, seed, dir));
            vision::X11ScreenSource screen(display.name());
            const SettleResult settled = wait_until_settled(screen, o.settle);
            auto frame = std::make_shared<const vision::Frame>(settled.settled ? settled.quiet_frame
                                                                               : settled.last);
            vision::write_image(*frame, dir / "screen.png");
            item["screenshot"] = std::filesystem::relative(dir / "screen.png", o.out_dir).string();
            const planner::CoordinateMapper mapper(family, {frame->width, frame->height});
            // The screen and the resized image the model saw (its points and image tokens are in
            // the latter's space), so that a report can place a written point among the tokens.
            item["screen_size"] = {frame->width, frame->height};
            item["model_image"] = {mapper.model_image().width, mapper.model_image().height};

            json targets = json::array();
            json off_screen = json::array();
            for (const GroundingTarget& target : pick_grounding_targets(sandbox.widgets(), seed)) {
                // Picked as on an unmoved screen, so that moved and unmoved runs ask the same
                // targets; one the moved window has taken (partly) off the screen is not asked.
                if (!on_screen(target.rect, {frame->width, frame->height})) {
                    off_screen.push_back(target.widget);
                    continue;
                }
                json t = {{"widget", target.widget},
                          {"role", target.role},
                          {"label", target.label},
                          {"rect", rect_json(target.rect)},
                          {"instruction", target.instruction}};
                if (o.on_item)
                    o.on_item(job, sandbox,
                              {{"suite", "grounding"},
                               {"repeat", item.at("repeat")},
                               {"seed", seed},
                               {"widget", target.widget}});
                planner::ConversationOptions conversation_options;
                conversation_options.prompt.kind = planner::PromptKind::grounding;
                planner::Conversation conversation(family, target.instruction,
                                                   conversation_options);
                conversation.add_screenshot(frame);
                const auto asked = Clock::now();
                try {
                    model::CancelToken cancel;
                    const planner::Request request = conversation.build();
                    const model::Response response = vlm.generate(request, o.generate, {}, cancel);
                    t["model_ms"] = ms_since(asked);
                    t["response"] = response.text;
                    GroundingScore score = score_grounding(target, response.text, mapper);
                    if (o.second_look && score.point)
                        score = second_look_score(vlm, request, *frame, target, score, family,
                                                  o.generate, t);
                    if (score.point) {
                        t["point"] = {score.point->x, score.point->y};
                        t["distance"] = score.distance;
                    }
                    t["hit"] = score.hit;
                    if (!score.error.empty()) t["error"] = score.error;
                } catch (const std::exception& e) {
                    t["model_ms"] = ms_since(asked);
                    t["hit"] = false;
                    t["error"] = std::string("model: ") + e.what();
                }
                targets.push_back(std::move(t));
            }
            // Where the model clicked, for looking at failures: green hits, red misses, named.
            std::vector<vision::Annotation> marks;
            for (const auto& t : targets) {
                if (!t.contains("point")) continue;
                const vision::Point p{t["point"][0].get<int>(), t["point"][1].get<int>()};
                const vision::Colour colour = t.value("hit", false) ? vision::Colour{20, 160, 40}
                                                                    : vision::Colour{230, 30, 30};
                auto marker = vision::click_marker(p);
                marker.colour = colour;
                auto name =
                    vision::text_label({p.x + 10, p.y + 6}, t.value("widget", std::string()));
                name.colour = colour;
                marks.push_back(marker);
                marks.push_back(name);
            }
            vision::write_image(vision::annotate(*frame, marks), dir / "answers.png");
            item["answers_image"] =
                std::filesystem::relative(dir / "answers.png", o.out_dir).string();
            item["targets"] = std::move(targets);
            if (!off_screen.empty()) item["off_screen"] = std::move(off_screen);
        });

    json results = {{"suite", "grounding"},       {"family", o.family}, {"model", o.model_name},
                    {"seeds", o.seeds},           {"repeat", o.repeat}, {"jobs", o.jobs},
                    {"wall_ms", ms_since(start)}, {"items", items}};
    if (o.window_offset != vision::Point{0, 0})
        results["window_offset"] = {o.window_offset.x, o.window_offset.y};
    if (!job_errors.empty()) results["job_errors"] = job_errors;
    results["summary"] = summarize_grounding(results["items"]);
    json per_repeat = json::array();
    for (int r = 0; r < o.repeat; ++r) {
        json subset = json::array();
        for (const auto& i : items)
            if (i.at("repeat") == r) subset.push_back(i);
        per_repeat.push_back(summarize_grounding(subset).at("overall").at("accuracy"));
    }
    results["summary"]["accuracy_per_repeat"] = per_repeat;
    return results;
}

// ---- tasks --------------------------------------------------------------------------------

json summarize_tasks(const json& items) {
    struct Tally {
        int n = 0, ok = 0;
        std::vector<double> steps, latency, model;
    };
    Tally all;
    std::map<std::string, Tally> tasks;
    for (const auto& i : items)
        for (Tally* t : {&all, &tasks[i.value("task", std::string())]}) {
            ++t->n;
            if (i.value("success", false)) ++t->ok;
            t->steps.push_back(i.value("steps", 0));
            for (const auto& v : i.value("step_ms", json::array()))
                t->latency.push_back(v.get<double>());
            for (const auto& v : i.value("model_ms", json::array()))
                t->model.push_back(v.get<double>());
        }
    auto summary = [](const Tally& t) {
        double model_total = 0;
        for (double m : t.model) model_total += m;
        return json{{"runs", t.n},
                    {"successes", t.ok},
                    {"success_rate", t.n ? static_cast<double>(t.ok) / t.n : 0.0},
                    {"median_steps", median(t.steps)},
                    {"median_step_ms", median(t.latency)},
                    {"median_model_ms", median(t.model)},
                    {"model_ms_per_run", t.n ? model_total / t.n : 0.0}};
    };
    json per_task = json::object();
    for (const auto& [id, t] : tasks) per_task[id] = summary(t);
    return {{"overall", summary(all)}, {"by_task", per_task}};
}

json run_tasks(const EvalOptions& o, const std::vector<EvalTask>& tasks) {
    check_options(o);
    if (tasks.empty()) throw EvalError("no tasks to evaluate");
    std::vector<json> items;
    for (int r = 0; r < o.repeat; ++r)
        for (std::size_t t = 0; t < tasks.size(); ++t)
            items.push_back(
                {{"repeat", r}, {"task", tasks[t].id}, {"seed", tasks[t].seed}, {"index", t}});

    const auto start = Clock::now();
    const auto job_errors =
        run_parallel(o, items, [&](int job, PrivateDisplay& display, model::Vlm& vlm, json& item) {
            const EvalTask& task = tasks[item.at("index").get<std::size_t>()];
            item.erase("index");
            item["success"] = false;
            const auto dir = o.out_dir / "tasks" /
                             ("repeat-" + std::to_string(item.at("repeat").get<int>())) / task.id;
            std::filesystem::create_directories(dir / "sandbox");
            std::filesystem::remove_all(dir / "session");
            SandboxProcess sandbox(sandbox_options(o, display, task.seed, dir / "sandbox"));
            const std::string text = render_task_text(task, sandbox.widgets());
            item["text"] = text;
            if (o.on_item)
                o.on_item(job, sandbox,
                          {{"suite", "tasks"},
                           {"repeat", item.at("repeat")},
                           {"seed", task.seed},
                           {"task", task.id}});

            vision::X11ScreenSource screen(display.name());
            actuators::X11Actuator actuator(display.name());
            AgentConfig config;
            config.task = text;
            config.family = o.family;
            config.max_steps = task.max_steps;
            config.settle = o.settle;
            config.generate = o.generate;
            config.max_pixels = o.max_pixels;
            config.second_look = o.second_look;
            config.session_dir = dir / "session";
            config.manifest.model = o.model_name;
            RunControl control;
            StepTimes times;
            Agent agent(config, screen, vlm, actuator, control, times);
            const RunResult result = agent.run();

            // The last action's event may still be on its way to the log.
            std::string unmet = unmet_conditions(task, sandbox.events());
            for (int i = 0; i < 5 && !unmet.empty(); ++i) {
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                unmet = unmet_conditions(task, sandbox.events());
            }
            item["status"] = std::string(to_string(result.status));
            if (result.status == RunStatus::error) item["message"] = result.message;
            item["success"] = unmet.empty();
            if (!unmet.empty()) item["unmet"] = unmet;
            item["steps"] = result.steps;
            item["step_ms"] = times.latency_ms;
            item["model_ms"] = times.model_ms;
            item["session"] = std::filesystem::relative(dir / "session", o.out_dir).string();
        });

    json results = {{"suite", "tasks"},   {"family", o.family}, {"model", o.model_name},
                    {"repeat", o.repeat}, {"jobs", o.jobs},     {"wall_ms", ms_since(start)},
                    {"items", items}};
    if (o.window_offset != vision::Point{0, 0})
        results["window_offset"] = {o.window_offset.x, o.window_offset.y};
    if (!job_errors.empty()) results["job_errors"] = job_errors;
    results["summary"] = summarize_tasks(results["items"]);
    json per_repeat = json::array();
    for (int r = 0; r < o.repeat; ++r) {
        json subset = json::array();
        for (const auto& i : items)
            if (i.at("repeat") == r) subset.push_back(i);
        per_repeat.push_back(summarize_tasks(subset).at("overall").at("success_rate"));
    }
    results["summary"]["success_rate_per_repeat"] = per_repeat;
    return results;
}

// ---- Markdown -----------------------------------------------------------------------------

std::string results_markdown(const json& results) {
    const std::string suite = results.value("suite", std::string());
    const json& summary = results.at("summary");
    const json& all = summary.at("overall");
    std::string md = "# deskpilot eval " + suite + "\n\nmodel `" +
                     results.value("model", std::string()) + "`, family `" +
                     results.value("family", std::string()) + "`, repeat " +
                     std::to_string(results.value("repeat", 1)) + ", jobs " +
                     std::to_string(results.value("jobs", 1));
    if (results.contains("window_offset"))
        md += ", sandbox window moved to " +
              std::to_string(results["window_offset"][0].get<int>()) + "," +
              std::to_string(results["window_offset"][1].get<int>());
    if (results.contains("task_seed_offset"))
        md += ", task seeds moved by " + std::to_string(results.value("task_seed_offset", 0));
    if (results.contains("engine")) md += "; " + results.value("engine", std::string());
    md += "\n\n";
    if (suite == "grounding") {
        md +=
            "| role | targets | hits | accuracy | median miss distance (px) "
            "|\n|---|---:|---:|---:|---:|\n";
        auto row = [&](const std::string& name, const json& s) {
            md += "| " + name + " | " + std::to_string(s.at("targets").get<int>()) + " | " +
                  std::to_string(s.at("hits").get<int>()) + " | " +
                  percent(s.at("accuracy").get<double>()) + " | " +
                  number(s.at("median_miss_distance").get<double>()) + " |\n";
        };
        for (const auto& [role, s] : summary.at("by_role").items()) row(role, s);
        row("**all**", all);
        if (const int off = summary.value("targets_off_screen", 0); off > 0)
            md += "\n" + std::to_string(off) +
                  " target(s) not asked: the moved window took them off the screen.\n";
    } else {
        md +=
            "| task | runs | success | median steps | median step (ms) | median model (ms) | model "
            "ms per run |\n"
            "|---|---:|---:|---:|---:|---:|---:|\n";
        auto row = [&](const std::string& name, const json& s) {
            md += "| " + name + " | " + std::to_string(s.at("runs").get<int>()) + " | " +
                  percent(s.at("success_rate").get<double>()) + " | " +
                  number(s.at("median_steps").get<double>()) + " | " +
                  number(s.at("median_step_ms").get<double>()) + " | " +
                  number(s.at("median_model_ms").get<double>()) + " | " +
                  number(s.at("model_ms_per_run").get<double>()) + " |\n";
        };
        for (const auto& [id, s] : summary.at("by_task").items()) row(id, s);
        row("**all**", all);
    }
    return md;
}

}  // namespace deskpilot::agent::eval
