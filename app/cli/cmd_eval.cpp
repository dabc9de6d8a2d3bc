// deskpilot eval grounding|tasks (--endpoint URL --model NAME | --model-dir DIR) --family F
//   [--seeds A..B] [--tasks FILE] [--jobs J] [--repeat K] [--window-offset DX,DY]
//   [--second-look] [-o results.json]
// Benchmarks a model on seeded sandboxes, each job on its own private Xvfb display: grounding
// (click the named widget; hit when inside its rectangle) or multi-step tasks (success from the
// sandbox's state events). Writes the results JSON, a Markdown table beside it, and keeps every
// screenshot and agent session under <results>.d/.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <fstream>

#include "actuators/key_names.h"
#include "agent/eval/runner.h"
#include "agent/eval/task_set.h"
#include "cli/action_grammar_option.h"
#include "cli/command_registry.h"
#include "cli/coordinate_window_option.h"
#include "model/engine/native_vlm.h"
#include "model/remote/remote_vlm.h"
#include "planner/family.h"

namespace deskpilot::cli {
namespace {

// "A..B" (inclusive) or "N".
std::vector<unsigned> parse_seeds(const std::string& text) {
    unsigned long a = 0, b = 0;
    char tail = 0;
    const auto dots = text.find("..");
    bool ok;
    if (dots == std::string::npos) {
        ok = std::sscanf(text.c_str(), "%lu%c", &a, &tail) == 1;
        b = a;
    } else {
        ok = std::sscanf(text.substr(0, dots).c_str(), "%lu%c", &a, &tail) == 1 &&
             std::sscanf(text.substr(dots + 2).c_str(), "%lu%c", &b, &tail) == 1;
    }
    if (!ok || text.find('-') != std::string::npos || a > b || b > 0xFFFFFFFFul || b - a >= 100000)
        throw CommandError(
            "--seeds '" + text +
                "': expected A..B with 0 <= A <= B (at most 100000 seeds), or one seed N",
            kExitUsage);
    std::vector<unsigned> seeds;
    for (unsigned long s = a; s <= b; ++s) seeds.push_back(static_cast<unsigned>(s));
    return seeds;
}

// "DX,DY": where the sandbox window's corner goes, in screen pixels (either may be negative).
vision::Point parse_window_offset(const std::string& text) {
    vision::Point p;
    const char* end = text.data() + text.size();
    auto [after_x, ex] = std::from_chars(text.data(), end, p.x);
    bool ok = ex == std::errc() && after_x != end && *after_x == ',';
    if (ok) {
        auto [after_y, ey] = std::from_chars(after_x + 1, end, p.y);
        ok = ey == std::errc() && after_y == end;
    }
    if (!ok)
        throw CommandError("--window-offset '" + text +
                               "': expected DX,DY in screen pixels, e.g. 48,36 or -40,-30",
                           kExitUsage);
    return p;
}

class EvalCommand : public Command {
  public:
    std::string name() const override { return "eval"; }

    void configure(CLI::App& app) override {
        app.add_option("suite", suite_, "grounding or tasks")
            ->required()
            ->check(CLI::IsMember({"grounding", "tasks"}));
        app.add_option("--endpoint", endpoint_,
                       "OpenAI-compatible base URL, e.g. http://localhost:8000/v1");
        app.add_option("--model", model_, "Model name the endpoint serves");
        app.add_option("--api-key-env", api_key_env_, "Environment variable holding the API key");
        app.add_option("--model-dir", model_dir_, "Local model folder for the native engine");
        app.add_option("--max-pixels", max_pixels_,
                       "With --model-dir: pixel cap per screenshot (CPU runs)")
            ->check(CLI::Range(std::int64_t(65536), std::int64_t(1) << 40));
        coordinate_window_.add(app);
        action_grammar_.add(app);
        app.add_option("--family", family_, "Model family: " + planner::family_names());
        app.add_option("--seeds", seeds_, "Grounding screens: seeds A..B (inclusive) or one seed");
        app.add_option("--tasks", tasks_file_,
                       "Task file (JSON); default: the bundled eval/tasks/sandbox.json");
        app.add_option("--task", only_tasks_, "Run only this task id (repeatable)");
        app.add_option("--jobs,-j", jobs_, "Sandboxes run at once, each on its own Xvfb")
            ->check(CLI::Range(1, 256));
        app.add_option("--repeat", repeat_, "Run everything this many times (variance)")
            ->check(CLI::Range(1, 1000));
        app.add_option("--task-seed-offset", task_seed_offset_,
                       "Tasks: add N to every task's seed, so the same tasks run on other screens "
                       "(a held-out copy of the suite; seeds stay below 1000)")
            ->check(CLI::Range(0, 999));
        app.add_option("--window-offset", window_offset_,
                       "Move the sandbox window's corner to DX,DY (screen pixels; default 0,0 "
                       "fills the screen): does the model read the screen or recall it?");
        app.add_flag("--second-look", second_look_,
                     "Ask every click again on the quarter of the screen around it, shown at "
                     "twice the scale (for models trained on such views)");
        app.add_option("-o,--output", output_, "Results JSON (a .md table is written beside it)");
    }

    int run() override {
        const bool native = !model_dir_.empty();
        if (native && !endpoint_.empty())
            throw CommandError("give either --model-dir or --endpoint, not both", kExitUsage);
        action_grammar_.require_native(native);
        if (family_.empty())
            family_ = native ? model::native_default_family(model_dir_) : "ui-tars-1.5";
        if (!native && (endpoint_.empty() || model_.empty()))
            throw CommandError("give --endpoint URL and --model NAME (or --model-dir DIR)",
                               kExitUsage);
        if (!planner::find_family(family_))
            throw CommandError(
                "unknown --family '" + family_ + "' (known: " + planner::family_names() + ")",
                kExitUsage);
        if (native) {
            const std::string problem = model::native_pixel_cap_problem(family_, max_pixels_);
            if (!problem.empty()) throw CommandError("--max-pixels: " + problem, kExitUsage);
        }

        agent::eval::EvalOptions options;
        options.family = family_;
        options.model_name = native ? model_dir_ : model_;
        options.seeds = parse_seeds(seeds_);
        options.jobs = jobs_;
        options.repeat = repeat_;
        options.second_look = second_look_;
        options.window_offset = parse_window_offset(window_offset_);
        if (const std::string problem =
                agent::eval::window_offset_problem(options.window_offset, options.screen);
            !problem.empty())
            throw CommandError("--window-offset '" + window_offset_ + "': " + problem, kExitUsage);
        const std::filesystem::path output = output_.empty() ? "eval-" + suite_ + ".json" : output_;
        options.out_dir = std::filesystem::path(output.string() + ".d");
        if (suite_ == "grounding" && task_seed_offset_ != 0)
            throw CommandError("--task-seed-offset applies to the tasks suite", kExitUsage);
        // The task file is checked before any model call or display starts.
        std::vector<agent::eval::EvalTask> tasks;
        if (suite_ == "tasks") {
            try {
                tasks = agent::eval::load_tasks(tasks_file_);
            } catch (const agent::eval::EvalError& e) {
                throw CommandError(e.what(), kExitError);
            }
            if (!only_tasks_.empty()) {
                std::vector<agent::eval::EvalTask> chosen;
                for (const auto& id : only_tasks_) {
                    auto it = std::find_if(tasks.begin(), tasks.end(),
                                           [&](const auto& t) { return t.id == id; });
                    if (it == tasks.end())
                        throw CommandError("--task '" + id + "': no such task in " + tasks_file_,
                                           kExitUsage);
                    chosen.push_back(*it);
                }
                tasks = std::move(chosen);
            }
            for (agent::eval::EvalTask& task : tasks) {
                if (task.seed + task_seed_offset_ > kLastEvalSeed)
                    throw CommandError("--task-seed-offset " + std::to_string(task_seed_offset_) +
                                           ": task '" + task.id + "' (seed " +
                                           std::to_string(task.seed) +
                                           ") would leave the evaluation seeds 0.." +
                                           std::to_string(kLastEvalSeed),
                                       kExitUsage);
                task.seed += task_seed_offset_;
            }
        }
        // The model as loaded: the native engine's threads, kernels and window, or the endpoint.
        std::string engine_described;
        if (native) {
            // One engine per job (each holds its own KV cache); the first load also checks the
            // folder before any display starts.
            const model::NativeVlmConfig engine{.model_dir = model_dir_,
                                                .max_pixels = max_pixels_,
                                                .coordinate_window = coordinate_window_.value(),
                                                .action_grammar = action_grammar_.value(),
                                                .key_names = actuators::key_name_list()};
            options.max_pixels = max_pixels_;
            auto first = std::make_shared<std::unique_ptr<model::Vlm>>(
                std::make_unique<model::NativeVlm>(engine));
            engine_described = (*first)->describe();
            std::fprintf(stderr, "deskpilot: %s\n", engine_described.c_str());
            options.make_model = [engine, first](int job) -> std::unique_ptr<model::Vlm> {
                if (job == 0 && *first) return std::move(*first);
                return std::make_unique<model::NativeVlm>(engine);
            };
        }
        model::RemoteConfig remote{
            .endpoint = endpoint_, .model = model_, .api_key_env = api_key_env_};
        remote.coordinate_window = coordinate_window_.value().value_or(0);
        remote.log = [](const std::string& line) {
            std::fprintf(stderr, "deskpilot: %s\n", line.c_str());
        };
        if (!native) {
            {
                model::RemoteVlm probe(
                    remote);  // a bad endpoint or model fails here, before any display starts
                probe.check_model();
                engine_described = probe.describe();  // the endpoint, and the readout's window
            }
            options.make_model = [remote](int) {
                return std::make_unique<model::RemoteVlm>(remote);
            };
        }
        options.progress = [](const std::string& line) {
            const auto item = nlohmann::json::parse(line);
            std::string what = item.contains("task")
                                   ? item.value("task", std::string())
                                   : "seed " + std::to_string(item.value("seed", 0u));
            std::string verdict;
            if (item.contains("targets")) {
                int hits = 0;
                for (const auto& t : item["targets"]) hits += t.value("hit", false) ? 1 : 0;
                verdict =
                    std::to_string(hits) + "/" + std::to_string(item["targets"].size()) + " hits";
            } else {
                verdict = item.value("success", false) ? "success" : "fail";
                if (item.contains("steps"))
                    verdict += " in " + std::to_string(item.value("steps", 0)) + " steps";
            }
            if (item.contains("error")) verdict += " (" + item.value("error", std::string()) + ")";
            std::printf("  %s: %s\n", what.c_str(), verdict.c_str());
            std::fflush(stdout);
        };

        nlohmann::json results;
        try {
            results = suite_ == "grounding" ? agent::eval::run_grounding(options)
                                            : agent::eval::run_tasks(options, tasks);
        } catch (const agent::eval::EvalError& e) {
            throw CommandError(e.what(), kExitError);
        }

        for (const auto& e : results.value("job_errors", nlohmann::json::array()))
            std::fprintf(stderr, "deskpilot eval: warning: %s (its share ran on the other jobs)\n",
                         e.get<std::string>().c_str());
        // Screenshot and session paths in the items are relative to it.
        results["out_dir"] = options.out_dir.string();
        if (!engine_described.empty()) results["engine"] = engine_described;
        if (task_seed_offset_ != 0) results["task_seed_offset"] = task_seed_offset_;
        std::ofstream json_out(output);
        json_out << results.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        std::filesystem::path md_path = output;
        md_path.replace_extension(".md");
        const std::string md = agent::eval::results_markdown(results);
        std::ofstream md_out(md_path);
        md_out << md;
        if (!json_out || !md_out)
            throw CommandError("cannot write the results to '" + output.string() + "'", kExitError);
        std::printf("\n%s\n  results: %s\n  table: %s\n  screenshots and sessions: %s\n",
                    md.c_str(), output.c_str(), md_path.c_str(), options.out_dir.c_str());
        return 0;
    }

  private:
    std::string suite_, endpoint_, model_, api_key_env_, model_dir_, output_;
    std::string family_, seeds_ = "0..9", tasks_file_ = DESKPILOT_EVAL_TASKS;
    std::string window_offset_ = "0,0";
    std::int64_t max_pixels_ = 0;
    unsigned task_seed_offset_ = 0;
    // Seeds 0..999 are evaluation seeds: no training set draws from them (make_dataset.py).
    static constexpr unsigned kLastEvalSeed = 999;
    CoordinateWindowOption coordinate_window_;
    ActionGrammarOption action_grammar_;
    std::vector<std::string> only_tasks_;
    int jobs_ = 1, repeat_ = 1;
    bool second_look_ = false;
};

DESKPILOT_REGISTER_COMMAND(EvalCommand);

}  // namespace
}  // namespace deskpilot::cli
