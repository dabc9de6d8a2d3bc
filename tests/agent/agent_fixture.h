// The agent's end-to-end stack for tests: a private Xvfb with the sandbox, the loopback
// OpenAI-compatible server playing a scripted model, the real RemoteVlm, X11 capture and XTest
// input, and an observer that records every event.
#pragma once

#include <QtTest>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "actuators/x11_actuator.h"
#include "agent/agent_loop.h"
#include "model/remote/remote_vlm.h"
#include "openai_server.h"
#include "vision/base64.h"
#include "vision/smart_resize.h"
#include "vision/x11_screen_source.h"
#include "x11_harness.h"

namespace deskpilot::testing {

// Records what observers see; tests wait on it.
class RecordingObserver : public agent::AgentObserver {
  public:
    void on_step_parsed(int step, const planner::Step& s) override {
        add("parsed " + std::to_string(step) + ": " + s.thought);
    }
    void on_action_pending(const agent::ApprovalRequest& r) override {
        std::lock_guard lock(mutex_);
        pending_.push_back(r);
        events_.push_back("pending " + std::to_string(r.step));
        changed_.notify_all();
    }
    void on_action_executed(int step, int, const planner::Action& a,
                            const std::string& result) override {
        add("executed " + std::to_string(step) + " " + std::string(planner::to_string(a.type)) +
            " " + result);
    }
    void on_call_user(int step, const std::string& q) override {
        add("call_user " + std::to_string(step) + " " + q);
    }
    void on_paused() override { add("paused"); }
    void on_warning(const std::string& w) override { add("warning " + w); }
    void on_error(const std::string& e) override { add("error " + e); }
    void on_model_text(int, std::string_view chunk) override {
        std::lock_guard lock(mutex_);
        streamed_ += chunk;
    }
    void on_run_finished(agent::RunStatus s, const std::string& m) override {
        add("finished " + std::string(agent::to_string(s)) + " " + m);
    }

    bool wait_for(const std::string& prefix,
                  std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] {
            for (const auto& e : events_)
                if (e.rfind(prefix, 0) == 0) return true;
            return false;
        });
    }
    std::optional<agent::ApprovalRequest> next_pending(
        std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
        std::unique_lock lock(mutex_);
        if (!changed_.wait_for(lock, timeout, [&] { return !pending_.empty(); }))
            return std::nullopt;
        auto r = pending_.front();
        pending_.pop_front();
        return r;
    }
    std::vector<std::string> events() const {
        std::lock_guard lock(mutex_);
        return events_;
    }
    std::string streamed() const {
        std::lock_guard lock(mutex_);
        return streamed_;
    }
    std::string dump() const {
        std::string all;
        for (const auto& e : events()) all += e + "\n";
        return all;
    }

  private:
    void add(std::string e) {
        std::lock_guard lock(mutex_);
        events_.push_back(std::move(e));
        changed_.notify_all();
    }
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<std::string> events_;
    std::deque<agent::ApprovalRequest> pending_;
    std::string streamed_;
};

// The size of the image in a data: URL (PNG or JPEG), read from its header.
inline vision::Size data_url_image_size(const std::string& url) {
    const auto comma = url.find(',');
    std::vector<std::uint8_t> bytes;
    // The first 64 KiB of base64 are plenty for a PNG IHDR or a JPEG SOF marker.
    std::string head = url.substr(comma + 1, std::min<std::size_t>(url.size() - comma - 1, 65536));
    head.resize(head.size() / 4 * 4);
    if (!vision::base64_decode(head, bytes) || bytes.size() < 24) return {};
    if (bytes[0] == 0x89 && bytes[1] == 'P')
        return {(bytes[16] << 24) | (bytes[17] << 16) | (bytes[18] << 8) | bytes[19],
                (bytes[20] << 24) | (bytes[21] << 16) | (bytes[22] << 8) | bytes[23]};
    for (std::size_t i = 2; i + 9 < bytes.size();) {  // JPEG: walk the markers to SOF0/SOF2
        if (bytes[i] != 0xFF) return {};
        const int marker = bytes[i + 1];
        const int length = (bytes[i + 2] << 8) | bytes[i + 3];
        if (marker == 0xC0 || marker == 0xC2)
            return {(bytes[i + 7] << 8) | bytes[i + 8], (bytes[i + 5] << 8) | bytes[i + 6]};
        i += 2 + static_cast<std::size_t>(length);
    }
    return {};
}

// Number of assistant turns in a chat request: which step the scripted model is answering.
inline int assistant_turns(const RecordedRequest& request) {
    int n = 0;
    for (const auto& m : request.json.value("messages", nlohmann::json::array()))
        if (m.value("role", "") == "assistant") ++n;
    return n;
}

// A UI-TARS-1.5 point: absolute pixels of the image the model received.
inline std::string box(vision::Point screen_point, vision::Size screen, vision::Size image) {
    const long x = std::lround(static_cast<double>(screen_point.x) * image.width / screen.width);
    const long y = std::lround(static_cast<double>(screen_point.y) * image.height / screen.height);
    return "'<|box_start|>(" + std::to_string(x) + "," + std::to_string(y) + ")<|box_end|>'";
}

struct AgentStack {
    std::unique_ptr<agent::PrivateDisplay> display;
    std::unique_ptr<agent::SandboxProcess> sandbox;
    std::unique_ptr<OpenAiServer> server = std::make_unique<OpenAiServer>();
    std::unique_ptr<vision::X11ScreenSource> screen;
    std::unique_ptr<actuators::X11Actuator> actuator;
    std::unique_ptr<model::RemoteVlm> model;
    agent::RunControl control;
    RecordingObserver observer;
    QTemporaryDir sessions;
    vision::Size screen_size{1280, 800};

    explicit AgentStack(agent::SandboxOptions sandbox_options = {}) {
        display = start_display(screen_size.width, screen_size.height);
        if (!sandbox_options.geometry) sandbox_options.geometry = vision::Rect{0, 0, 1280, 800};
        sandbox = start_sandbox(*display, sandbox_options);
        screen = std::make_unique<vision::X11ScreenSource>(display->name());
        actuator = std::make_unique<actuators::X11Actuator>(display->name());
        model = std::make_unique<model::RemoteVlm>(
            model::RemoteConfig{.endpoint = server->base_url(), .model = "ui-tars-1.5-7b"});
    }

    agent::AgentConfig config(const std::string& task) {
        agent::AgentConfig c;
        c.task = task;
        c.family = "ui-tars-1.5";
        c.session_dir = sessions.filePath("run").toStdString();
        c.settle.quiet = std::chrono::milliseconds(150);
        c.settle.max = std::chrono::milliseconds(2000);
        c.manifest.model = "ui-tars-1.5-7b";
        c.manifest.endpoint_host = "127.0.0.1:" + std::to_string(server->port());
        return c;
    }

    vision::Point center(const std::string& widget) const {
        const auto r = sandbox->widget_rect(widget);
        if (!r) throw std::runtime_error("no widget " + widget + " in the sandbox layout");
        return r->center();
    }

    bool has_event(const std::function<bool(const nlohmann::json&)>& match) const {
        for (const auto& e : sandbox->events())
            if (match(e)) return true;
        return false;
    }
};

// Runs the agent on its own thread; joins on destruction.
struct AgentRun {
    agent::RunResult result;
    std::thread thread;
    AgentRun(AgentStack& stack, agent::AgentConfig config) {
        auto agent = std::make_shared<agent::Agent>(std::move(config), *stack.screen, *stack.model,
                                                    *stack.actuator, stack.control, stack.observer);
        thread = std::thread([this, agent] { result = agent->run(); });
    }
    agent::RunResult join() {
        if (thread.joinable()) thread.join();
        return result;
    }
    ~AgentRun() {
        if (thread.joinable()) thread.join();
    }
};

}  // namespace deskpilot::testing
