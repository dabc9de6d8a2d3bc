// X11Actuator: mouse and keyboard through the XTest extension. Every call validates its whole
// input first (known key names, points on a monitor, valid UTF-8) and sends nothing when any
// part is wrong. Text is typed through the current keymap where it can be; characters the
// keymap lacks go through spare keycodes that are remapped for the moment and restored after
// (xdotool's technique), so any Unicode text arrives whatever the layout.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "actuators/actuator.h"
#include "vision/monitor.h"

namespace deskpilot::actuators {

struct X11ActuatorOptions {
    // Between the clicks of a double/triple click; well inside toolkits' double-click time.
    std::chrono::milliseconds click_interval{60};
    // A drag moves in `drag_steps` motion events spread over `drag_duration`, so applications
    // see the pointer travel (sliders, drag and drop) rather than jump.
    std::chrono::milliseconds drag_duration{300};
    int drag_steps = 20;
    // Pause between the events of a scroll (one wheel click each).
    std::chrono::milliseconds scroll_interval{10};
    // Pause after each typed character; 0 types as fast as the server takes events.
    std::chrono::milliseconds key_delay{0};
    // How long a temporary keycode mapping stays after its last key event before it is
    // restored. Clients re-read the keymap when they process the mapping change; restoring
    // too early lets a slow client see the old (empty) mapping for the typed key.
    std::chrono::milliseconds remap_settle{120};
};

class X11Actuator : public Actuator {
  public:
    // Opens `display_name` (empty: $DISPLAY). Throws vision::DisplayError naming the display
    // when it cannot be opened, and ActuatorError when it lacks the XTest extension.
    explicit X11Actuator(const std::string& display_name = {}, X11ActuatorOptions options = {});
    ~X11Actuator() override;
    X11Actuator(const X11Actuator&) = delete;
    X11Actuator& operator=(const X11Actuator&) = delete;

    void move(Point to) override;
    void click(Point at, MouseButton button = MouseButton::left, int count = 1) override;
    void button(MouseButton button, bool down) override;
    void drag(Point from, Point to, MouseButton button = MouseButton::left) override;
    void scroll(Point at, ScrollDirection direction, int clicks = 5) override;
    void key(const std::string& name, bool down) override;
    void hotkey(const std::vector<std::string>& keys) override;
    void type_text(const std::string& utf8) override;
    void wait(std::chrono::milliseconds duration) override;

    // Where the pointer is now, in root-window pixels.
    Point pointer_position();
    // The monitors as the server reports them now.
    std::vector<vision::Monitor> monitors() override;
    const std::string& display_name() const;
    X11ActuatorOptions& options();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace deskpilot::actuators
