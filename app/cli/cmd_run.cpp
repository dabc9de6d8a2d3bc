// deskpilot run --task TEXT (--endpoint URL --model NAME | --model-dir DIR [--device cpu|cuda])
// [...]: the agent on the desktop (a model server, or the native engine in-process), printing
// each step as it goes. Exit status: 0 finished, 4 call_user unanswered, 5 max steps,
// 6 stopped, 1 error.
#include <cstdio>
#include <thread>

#include "actuators/key_names.h"
#include "agent/agent_loop.h"
#include "cli/action_grammar_option.h"
#include "cli/agent_setup.h"
#include "cli/command_registry.h"
#include "cli/console.h"
#include "cli/coordinate_window_option.h"
#include "cli/gpu_option.h"
#include "model/engine/native_vlm.h"
#include "model/remote/remote_vlm.h"
#include "planner/family.h"

namespace deskpilot::cli {
namespace {

vision::Rect parse_region(const std::string& text) {
    vision::Rect r;
    char tail = 0;
    if (std::sscanf(text.c_str(), "%d,%d,%d,%d%c", &r.x, &r.y, &r.width, &r.height, &tail) != 4 ||
        r.width <= 0 || r.height <= 0)
        throw CommandError(
            "region '" + text + "': expected X,Y,W,H with a positive width and height", kExitUsage);
    return r;
}

// "host:port" of a URL: what a session may keep of the endpoint (no path, query or user info).
std::string host_of(const std::string& url) {
    std::string rest = url.substr(url.find("://") == std::string::npos ? 0 : url.find("://") + 3);
    rest = rest.substr(0, rest.find_first_of("/?#"));
    if (const auto at = rest.rfind('@'); at != std::string::npos) rest = rest.substr(at + 1);
    return rest;
}

class RunCommand : public Command {
  public:
    std::string name() const override { return "run"; }

    void configure(CLI::App& app) override {
        app.add_option("--task", task_, "What the agent should do")->required();
        app.add_option("--endpoint", endpoint_,
                       "OpenAI-compatible base URL, e.g. http://localhost:8000/v1");
        app.add_option("--model", model_, "Model name the endpoint serves");
        app.add_option("--api-key-env", api_key_env_, "Environment variable holding the API key");
        app.add_option("--header", headers_, "Extra request header 'Name: value' (repeatable)");
        app.add_option(
            "--model-dir", model_dir_,
            "Local model folder for the native engine (Qwen3-VL-MoE or Qwen2.5-VL / UI-TARS-1.5)");
        app.add_option("--max-pixels", max_pixels_,
                       "Native engine: pixel cap per screenshot (speeds up CPU runs)")
            ->check(CLI::Range(std::int64_t(65536), std::int64_t(1) << 40));
        app.add_flag("--second-look", second_look_,
                     "Ask every click again on the quarter of the screen around it, shown at "
                     "twice the scale (for models trained on such views)");
        coordinate_window_.add(app);
        action_grammar_.add(app);
        app.add_option("--threads", threads_, "Native engine: worker threads (default: all)")
            ->check(CLI::Range(1, 1024));
        app.add_option("--device", device_,
                       "Native engine: where the model runs, cpu or cuda (the decoder and the "
                       "vision tower)")
            ->check(CLI::IsMember({"cpu", "cuda"}));
        gpu_.add(app);
        app.add_option("--family", family_,
                       "Model family: " + planner::family_names() +
                           " (default: ui-tars-1.5; with --model-dir, the checkpoint's: qwen3-vl "
                           "or ui-tars-1.5)");
        app.add_option("--display", display_, "X display, e.g. :1 (default: $DISPLAY)");
        app.add_option("--max-steps", max_steps_, "Stop after this many steps")
            ->check(CLI::Range(1, 10000));
        app.add_option("--approve", approve_,
                       "Which actions wait for a person: auto, each or risky")
            ->check(CLI::IsMember({"auto", "each", "risky"}));
        app.add_option("--history", history_, "Screenshots kept in the model's context")
            ->check(CLI::Range(1, 50));
        app.add_option("--session", session_,
                       "Session folder to record into (default: a new one under ~/.local/share)");
        app.add_option("--deny-region", deny_regions_, "Never act inside X,Y,W,H (repeatable)");
        app.add_option("--risky-region", risky_regions_,
                       "Ask before acting inside X,Y,W,H (repeatable)");
        app.add_option("--language", language_, "Prompt language: en or zh")
            ->check(CLI::IsMember({"en", "zh"}));
        app.add_option("--jpeg-quality", jpeg_quality_,
                       "Send screenshots as JPEG of this quality (faster to encode than PNG)")
            ->check(CLI::Range(1, 100));
        app.add_flag("--dry-run", dry_run_,
                     "Let the model plan but send no input (actions are only recorded)");
    }

    int run() override {
        const bool native = !model_dir_.empty();
        if (native && (!endpoint_.empty() || !model_.empty()))
            throw CommandError(
                "--model-dir (the native engine) and --endpoint/--model exclude each other",
                kExitUsage);
        action_grammar_.require_native(native);
        if (!native && device_ != "cpu")
            throw CommandError("--device applies to the native engine (--model-dir)", kExitUsage);
        if (!native && (endpoint_.empty() || model_.empty()))
            throw CommandError("give --endpoint URL and --model NAME (or --model-dir DIR)",
                               kExitUsage);
        if (family_.empty())
            family_ = native ? model::native_default_family(model_dir_) : "ui-tars-1.5";
        if (!planner::find_family(family_))
            throw CommandError(
                "unknown --family '" + family_ + "' (known: " + planner::family_names() + ")",
                kExitUsage);
        if (native) {
            const std::string problem = model::native_pixel_cap_problem(family_, max_pixels_);
            if (!problem.empty()) throw CommandError("--max-pixels: " + problem, kExitUsage);
        }

        const int gpu = gpu_.resolve(device_);  // -1 unless native on cuda

        std::unique_ptr<model::Vlm> vlm;
        std::string endpoint_host;
        if (native) {
            // Loads the model (and finds the GPU for --device cuda) before any desktop, session
            // or thread exists, so a missing device or a bad folder leaves nothing behind.
            try {
                vlm = std::make_unique<model::NativeVlm>(
                    model::NativeVlmConfig{.model_dir = model_dir_,
                                           .max_pixels = max_pixels_,
                                           .threads = threads_,
                                           .device = device_,
                                           .gpu = gpu,
                                           .coordinate_window = coordinate_window_.value(),
                                           .action_grammar = action_grammar_.value(),
                                           .key_names = actuators::key_name_list()});
            } catch (const model::ModelError& e) {
                throw CommandError(e.what());
            }
            std::fprintf(stderr, "deskpilot: %s\n", vlm->describe().c_str());
        } else {
            model::RemoteConfig remote{
                .endpoint = endpoint_, .model = model_, .api_key_env = api_key_env_};
            remote.coordinate_window = coordinate_window_.value().value_or(0);
            for (const auto& h : headers_)
                remote.headers.push_back(model::remote::parse_header_option(h));
            if (jpeg_quality_ > 0) remote.image = {vision::ImageFormat::jpeg, jpeg_quality_};
            remote.log = [](const std::string& line) {
                std::fprintf(stderr, "deskpilot: %s\n", line.c_str());
            };
            auto remote_vlm = std::make_unique<model::RemoteVlm>(remote);
            remote_vlm->check_model();  // "model X not found; the server offers: ..." before
                                        // anything happens
            endpoint_host = host_of(remote_vlm->endpoint().display);
            vlm = std::move(remote_vlm);
        }

        Desktop desktop = open_desktop(display_, dry_run_);
        agent::AgentConfig config;
        config.task = task_;
        config.family = family_;
        config.max_steps = max_steps_;
        config.history = history_;
        config.language = language_;
        if (native) config.max_pixels = max_pixels_;
        config.second_look = second_look_;
        config.policy.mode = *agent::approval_mode_from_string(approve_);
        for (const auto& r : deny_regions_) config.policy.deny_regions.push_back(parse_region(r));
        for (const auto& r : risky_regions_) config.policy.risky_regions.push_back(parse_region(r));
        config.session_dir =
            session_.empty() ? agent::default_sessions_root() / agent::session_folder_name(task_)
                             : std::filesystem::path(session_);
        config.manifest.model = native ? vlm->describe() : model_;
        config.manifest.endpoint_host = endpoint_host;
        config.manifest.monitors = nlohmann::json::array();
        for (const auto& m : desktop.screen->monitors())
            config.manifest.monitors.push_back(
                {{"name", m.name},
                 {"rect", {m.rect.x, m.rect.y, m.rect.width, m.rect.height}},
                 {"primary", m.primary}});

        agent::RunControl control;
        ConsoleObserver console;
        agent::Agent agent(std::move(config), *desktop.screen, *vlm, *desktop.actuator, control,
                           console);
        agent::RunResult result;
        {
            StopOnSignal stop_on_signal(control);
            std::thread worker([&] { result = agent.run(); });
            answer_from_terminal(console, control);
            worker.join();
        }
        std::printf("  session: %s\n", result.session_dir.c_str());
        return agent::exit_code(result.status);
    }

  private:
    std::string task_, endpoint_, model_, api_key_env_, model_dir_, display_, session_;
    std::int64_t max_pixels_ = 0;
    bool second_look_ = false;
    int threads_ = 0;
    std::string family_, approve_ = "auto", language_ = "en", device_ = "cpu";
    GpuOption gpu_;
    CoordinateWindowOption coordinate_window_;
    ActionGrammarOption action_grammar_;
    std::vector<std::string> headers_, deny_regions_, risky_regions_;
    int max_steps_ = 50;
    int history_ = 5;
    int jpeg_quality_ = 0;  // 0: PNG
    bool dry_run_ = false;
};

DESKPILOT_REGISTER_COMMAND(RunCommand);

}  // namespace
}  // namespace deskpilot::cli
