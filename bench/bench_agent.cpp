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
        const double wall = std::chrono::duration<double, std::milli>(Clock::now() - start_).count();
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
        if (!std::strcmp(argv[i], "--steps")) steps = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--model-ms")) model_ms = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--jpeg")) jpeg = std::atoi(argv[i + 1]);
    }
    agent::PrivateDisplay display({.screens = {{1920, 1080}}});
    agent::SandboxProcess sandbox({.display = display.name(), .geometry = vision::Rect{0, 0, 1920, 1080}});
    const auto status = *sandbox.widget_rect("status");
    const vision::Size image = vision::smart_resize({1920, 1080}, vision::kUiTarsResize);
    const long x = std::lround((status.x + 4.0) * image.width / 1920), y = std::lround((status.y + 4.0) * image.height / 1080);

    testing::OpenAiServer server;
    auto reply = testing::ScriptedReply::answer("Thought: Click the status line.\nAction: click(start_box='<|box_start|>(" +
                                                std::to_string(x) + "," + std::to_string(y) + ")<|box_end|>')");
    reply.delay = std::chrono::milliseconds(model_ms);
    server.set_default(reply);

    vision::X11ScreenSource screen(display.name());
    actuators::X11Actuator hands(display.name());
    model::RemoteConfig remote{.endpoint = server.base_url(), .model = "ui-tars-1.5-7b"};
    if (jpeg > 0) remote.image = {vision::ImageFormat::jpeg, jpeg};
    model::RemoteVlm vlm(remote);
    char dir_template[] = "/tmp/deskpilot-bench-agent-XXXXXX";
    const std::filesystem::path dir = ::mkdtemp(dir_template);

    agent::AgentConfig config;
    config.task = "benchmark";
    config.max_steps = steps;
    config.loop_limit = steps + 1;  // the same click each step is intended here
    config.settle.quiet = std::chrono::milliseconds(60);
    config.session_dir = dir / "session";
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
    std::printf("agent step overhead on a 1920x1080 screen (%zu steps, %s screenshots, medians)\n", overhead.size(),
                jpeg > 0 ? "JPEG" : "PNG");
    std::printf("  capture (MIT-SHM)                      %8.2f ms\n", median(capture));
    std::printf("  request: resize + encode + HTTP        %8.2f ms\n", median(request));
    std::printf("  dispatch (XTest click)                 %8.2f ms\n", median(act));
    std::printf("  whole step without model and settle    %8.2f ms   (target <= 10 ms: %s)\n", median(overhead),
                median(overhead) <= 10 ? "met" : "NOT met");
    std::printf("  model call of the same step            %8d ms   (simulated; overhead/model = %.3f)\n", model_ms,
                median(overhead) / std::max(1, model_ms));
    std::printf("  settle (not overhead: waiting)         %8.2f ms\n", median(settle));
    std::filesystem::remove_all(dir);
    return 0;
}
