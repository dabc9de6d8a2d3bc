// Screen capture on X11: MIT-SHM when the server offers it (local displays), XGetImage
// otherwise (remote displays), chosen automatically and logged once.
#pragma once

#include <memory>
#include <string>

#include <vector>

#include "vision/monitor.h"
#include "vision/screen_source.h"

namespace deskpilot::vision {

class X11ScreenSource : public ScreenSource {
  public:
    enum class Method { automatic, shm, get_image };

    // Opens `display_name` (empty: $DISPLAY). Throws DisplayError naming the display when it
    // is missing or unreachable.
    explicit X11ScreenSource(const std::string& display_name = {},
                             Method method = Method::automatic);
    ~X11ScreenSource() override;
    X11ScreenSource(const X11ScreenSource&) = delete;
    X11ScreenSource& operator=(const X11ScreenSource&) = delete;

    Frame capture() override;
    Size screen_size() override;
    // Captures a rectangle of the root window (clipped to the screen).
    Frame capture_rect(const Rect& rect);

    // The monitors as the server reports them now (RandR, or Xinerama heads).
    std::vector<Monitor> monitors();
    // Captures monitor `index` of monitors(); throws DisplayError naming the index and the
    // number of monitors when there is no such monitor.
    Frame capture_monitor(int index);

    // Draws the mouse pointer into captured frames (XFixes); off by default, since models
    // should see the screen, not our own pointer parked on it.
    void set_include_cursor(bool include);
    bool include_cursor() const;

    // The device pixel ratio the desktop asks for (Xft.dpi / 96; 1 when unset).
    double device_pixel_ratio();

    // The method in use after the first capture (shm, or get_image after a fallback).
    Method method() const;
    const std::string& display_name() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace deskpilot::vision
