// Pieces the panel tests share: a screen that always shows the same picture (no X needed),
// an actuator that records clicks for the offscreen tests (named as the test double it is),
// and scripted UI-TARS answers for the loopback model server.
#pragma once

#include <QTemporaryDir>
#include <mutex>

#include "actuators/actuator.h"
#include "agent_fixture.h"
#include "panel/main_window.h"

namespace deskpilot::testing {

// A fixed 1280x800 picture: grey with a dark rectangle, so screenshots are recognisable.
class StillScreen : public vision::ScreenSource {
  public:
    StillScreen() {
        auto pixels =
            std::make_shared<std::vector<std::uint8_t>>(1280u * 800u * 4u, std::uint8_t{200});
        for (int y = 300; y < 400; ++y)
            for (int x = 400; x < 700; ++x) {
                auto* p = pixels->data() + (static_cast<std::size_t>(y) * 1280 + x) * 4;
                p[0] = 120, p[1] = 60, p[2] = 20;
            }
        frame_.width = 1280;
        frame_.height = 800;
        frame_.stride = 1280 * 4;
        frame_.pixels = pixels;
    }
    vision::Frame capture() override {
        auto f = frame_;
        f.timestamp = std::chrono::steady_clock::now();
        return f;
    }
    vision::Size screen_size() override { return {1280, 800}; }

  private:
    vision::Frame frame_;
};

// Test double for the offscreen tests (no X server there): records where it would click.
struct ClickLog {
    std::mutex mutex;
    std::vector<vision::Point> clicks;
    std::vector<std::vector<std::string>> hotkeys;
    std::vector<vision::Point> all() {
        std::lock_guard lock(mutex);
        return clicks;
    }
    std::size_t hotkey_count() {
        std::lock_guard lock(mutex);
        return hotkeys.size();
    }
};
class RecordingActuator : public actuators::Actuator {
  public:
    explicit RecordingActuator(std::shared_ptr<ClickLog> log) : log_(std::move(log)) {}
    void move(vision::Point) override {}
    void click(vision::Point at, actuators::MouseButton, int) override {
        std::lock_guard lock(log_->mutex);
        log_->clicks.push_back(at);
    }
    void button(actuators::MouseButton, bool) override {}
    void drag(vision::Point, vision::Point, actuators::MouseButton) override {}
    void scroll(vision::Point, actuators::ScrollDirection, int) override {}
    void key(const std::string&, bool) override {}
    void hotkey(const std::vector<std::string>& keys) override {
        std::lock_guard lock(log_->mutex);
        log_->hotkeys.push_back(keys);
    }
    void type_text(const std::string&) override {}
    void wait(std::chrono::milliseconds) override {}

  private:
    std::shared_ptr<ClickLog> log_;
};

// A screen that changes with every click the RecordingActuator records: a dark square moves
// 40 px to the right per click, so each step's screenshot differs from the one before.
class ClickCountScreen : public vision::ScreenSource {
  public:
    explicit ClickCountScreen(std::shared_ptr<ClickLog> log) : log_(std::move(log)) {}
    vision::Frame capture() override {
        vision::Frame f = still_.capture();
        auto pixels = std::make_shared<std::vector<std::uint8_t>>(*f.pixels);
        const int left = 20 + 40 * static_cast<int>(log_->all().size() % 30);
        for (int y = 20; y < 60; ++y)
            for (int x = left; x < left + 40; ++x) {
                auto* p = pixels->data() + (static_cast<std::size_t>(y) * 1280 + x) * 4;
                p[0] = p[1] = p[2] = 10;
            }
        f.pixels = pixels;
        return f;
    }
    vision::Size screen_size() override { return {1280, 800}; }

  private:
    std::shared_ptr<ClickLog> log_;
    StillScreen still_;
};

// A UI-TARS-1.5 answer clicking a screen point of the 1280x800 screen.
inline std::string click_answer(const RecordedRequest& r, vision::Point at,
                                const std::string& thought) {
    const vision::Size image = data_url_image_size(r.image_urls().back());
    return "Thought: " + thought + "\nAction: click(start_box=" + box(at, {1280, 800}, image) + ")";
}

// Short settle times so offscreen runs take milliseconds per step.
inline void quick_settle(agent::AgentConfig& c) {
    c.settle.quiet = std::chrono::milliseconds(40);
    c.settle.max = std::chrono::milliseconds(400);
    c.settle.poll = std::chrono::milliseconds(10);
    c.wait_timeout = std::chrono::milliseconds(100);
}

// Whether any chat request so far carries `text` in a user message.
inline bool server_saw_user_text(const OpenAiServer& server, const std::string& text) {
    for (const auto& r : server.chat_requests())
        for (const auto& m : r.json.value("messages", nlohmann::json::array())) {
            if (m.value("role", "") != "user") continue;
            if (m.contains("content") && m["content"].dump().find(text) != std::string::npos)
                return true;
        }
    return false;
}

}  // namespace deskpilot::testing
