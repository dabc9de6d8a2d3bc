// panel::GlobalHotkey: an emergency key (Ctrl+Alt+Esc by default) grabbed on the root window
// of the X display the agent drives, so it works while the panel has no focus. The grab lives
// on its own connection and thread; `on_press` is called on that thread (RunControl::stop is
// thread-safe, so it can be called from there directly).
#pragma once

#include <functional>
#include <string>
#include <thread>

namespace deskpilot::panel {

class GlobalHotkey {
  public:
    // `key` is an X keysym name ("Escape"); `modifiers` an X modifier mask (ControlMask|Mod1Mask).
    // Throws std::runtime_error naming the display when it cannot be opened or the key is taken.
    GlobalHotkey(const std::string& display, const std::string& key, unsigned modifiers,
                 std::function<void()> on_press);
    ~GlobalHotkey();
    GlobalHotkey(const GlobalHotkey&) = delete;
    GlobalHotkey& operator=(const GlobalHotkey&) = delete;

    // "ctrl+alt+Escape" style: modifiers (ctrl, alt, shift, super), then an X keysym name.
    GlobalHotkey(const std::string& display, const std::string& spec,
                 std::function<void()> on_press);

    // Ctrl+Alt as an X modifier mask.
    static unsigned ctrl_alt();
    struct Spec {
        std::string key;
        unsigned modifiers = 0;
    };
    // Throws std::invalid_argument naming the spec and the part that is wrong.
    static Spec parse(const std::string& spec);

  private:
    void loop();

    void* display_ = nullptr;  // Display*, kept out of the header so X macros stay out of Qt code
    unsigned long root_ = 0;
    int keycode_ = 0;
    unsigned modifiers_ = 0;
    int wake_[2] = {-1, -1};
    std::function<void()> on_press_;
    std::thread thread_;
};

}  // namespace deskpilot::panel
