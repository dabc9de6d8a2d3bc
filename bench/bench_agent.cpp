// Agent overhead per step, without model time: capture, preprocessing (resize + encode for the
// request), transport, parse, policy, dispatch and recording, measured on a real 1920x1080 Xvfb
// with the sandbox and the loopback OpenAI server answering at once. Printed beside the model
// call time that the same step would add (simulated with --model-ms). Medians.
//   bench_agent [--steps N] [--model-ms MS] [--jpeg Q]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <vector>

#include "actuators/x11_actuator.h"
#include "agent/agent_loop.h"
#include "agent/private_display.h"
#include "agent/sandbox_process.h"
#include "model/remote/remote_vlm.h"
#include "openai_server.h"
#include "vision/x11_screen_source.h"

using namespace deskpilot;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// Times each step from its screenshot to its record, so that the recording is included.
class StepClock : public agent::AgentObserver {
  public:
    void on_screenshot(int, const vision::Frame&) override { start_ = Clock::now(); }
    void on_step_recorded(const agent::StepRecord& s) override {
        const double wall =
            std::chrono::duration<double, std::milli>(Clock::now() - start_).count();
        std::lock_guard lock(mutex_);
        records.push_back(s);
        walls.push_back(wall + s.capture_ms);
    }
    std::mutex mutex_;
    std::vector<agent::StepRecord> records;
    std::vector<double> walls;

  private:
    Clock::time_point start_;
};

}  // namespace

int main(int argc, char** argv) {
    int steps = 20, model_ms = 300, jpeg = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--steps"))
            steps = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--model-ms"))
            model_ms = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--jpeg"))
            jpeg = std::atoi(argv[i + 1]);
    }
    agent::PrivateDisplay display({.screens = {{1920, 1080}}});
    agent::SandboxProcess sandbox(
        {.display = display.name(), .geometry = vision::Rect{0, 0, 1920, 1080}});
    const auto status = *sandbox.widget_rect("status");
    const vision::Size image = vision::smart_resize({1920, 1080}, vision::kUiTarsResize);
    const long x = std::lround((status.x + 4.0) * image.width / 1920),
               y = std::lround((status.y + 4.0) * image.height / 1080);

    testing::OpenAiServer server;
    auto reply = testing::ScriptedReply::answer(
        "Thought: Click the status line.\nAction: click(start_box='<|box_start|>(" +
        std::to_string(x) + "," + std::to_string(y) + ")<|box_end|>')");
    reply.delay = std::chrono::milliseconds(model_ms);
    server.set_default(reply);

    vision::X11ScreenSource screen(display.name());
    actuators::X11Actuator hands(display.name());
    model::RemoteConfig remote{.endpoint = server.base_url(), .model = "ui-tars-1.5-7b"};
    if (jpeg > 0) remote.image = {vision::ImageFormat::jpeg, jpeg};
    char dir_template[] = "/tmp/deskpilot-bench-agent-XXXXXX";
    const std::filesystem::path dir = ::mkdtemp(dir_template);

    struct Medians {
        double capture, request, act, overhead, settle;
    };
    auto measure = [&](bool prepare) {
        model::RemoteVlm vlm(remote);  // a fresh client: no screenshot cached from the other run
        agent::AgentConfig config;
        config.task = "benchmark";
        config.max_steps = steps;
        config.loop_limit = steps + 1;  // the same click each step is intended here
        config.prepare_screenshots = prepare;
        config.session_dir = dir / (prepare ? "prepared" : "baseline");
        agent::RunControl control;
        StepClock clock;
        agent::Agent agent(config, screen, vlm, hands, control, clock);
        agent.run();
        std::vector<double> capture, request, act, overhead, settle;
        for (std::size_t i = 1; i < clock.records.size(); ++i) {  // the first step warms caches
            const auto& s = clock.records[i];
            capture.push_back(s.capture_ms);
            request.push_back(s.model_ms - model_ms);  // resize + encode + HTTP + streaming
            act.push_back(s.act_ms);
            settle.push_back(s.settle_ms);
            overhead.push_back(clock.walls[i] - model_ms - s.settle_ms);
        }
        return Medians{median(capture), median(request), median(act), median(overhead),
                       median(settle)};
    };
    const Medians base = measure(false);
    const Medians ours = measure(true);

    std::printf(
        "agent step overhead on a 1920x1080 screen (%d steps each, %s screenshots, medians, ms)\n",
        steps - 1, jpeg > 0 ? "JPEG" : "PNG");
    std::printf("  %-40s %10s %12s %8s\n", "", "baseline", "prepared", "ratio");
    auto row = [](const char* what, double b, double o) {
        std::printf("  %-40s %10.2f %12.2f %7.1fx\n", what, b, o, o > 0 ? b / o : 0.0);
    };
    row("capture (MIT-SHM; reused settle frame)", base.capture, ours.capture);
    row("request: resize + encode + HTTP", base.request, ours.request);
    row("dispatch (XTest click)", base.act, ours.act);
    row("whole step without model and settle", base.overhead, ours.overhead);
    std::printf("  target <= 10 ms per step: %s (%.2f ms)\n",
                ours.overhead <= 10 ? "met" : "NOT met", ours.overhead);
    std::printf("  model call of the same step (simulated): %d ms; overhead/model = %.3f\n",
                model_ms, ours.overhead / std::max(1, model_ms));
    std::printf("  settle (waiting for a still screen, not overhead): %.0f ms\n", ours.settle);
    std::filesystem::remove_all(dir);
    return 0;
}
