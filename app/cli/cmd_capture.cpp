// deskpilot capture -o FILE [--monitor N] [--cursor] [--display :N]: one screenshot of the
// whole screen or of one monitor; --list-monitors prints the monitors instead.
#include <cstdio>
#include <cstdlib>

#include "cli/command_registry.h"
#include "vision/image_io.h"
#include "vision/x11_screen_source.h"

namespace deskpilot::cli {
namespace {

class CaptureCommand : public Command {
  public:
    std::string name() const override { return "capture"; }

    void configure(CLI::App& app) override {
        auto* output = app.add_option("-o,--output", output_, "Image file to write (.png, .jpg)");
        auto* list = app.add_flag("--list-monitors", list_monitors_,
                                  "Print the monitors (index, name, geometry)");
        output->excludes(list);
        app.add_option("--display", display_, "X display, e.g. :1 (default: $DISPLAY)");
        app.add_option("--monitor", monitor_, "Capture only monitor N (see --list-monitors)");
        app.add_flag("--cursor", cursor_, "Draw the mouse pointer into the image");
        app.add_option("--jpeg-quality", jpeg_quality_, "JPEG quality 0-100")
            ->check(CLI::Range(0, 100));
    }

    int run() override {
        // Under Wayland we reach only XWayland: native Wayland windows are invisible to X11.
        if (const char* wl = std::getenv("WAYLAND_DISPLAY"); wl && *wl)
            std::fprintf(stderr,
                         "deskpilot %s: Wayland session: only XWayland windows can be captured\n",
                         name().c_str());
        vision::X11ScreenSource source(display_);
        if (list_monitors_) {
            for (const auto& m : source.monitors())
                std::printf("%d %s %dx%d+%d+%d%s\n", m.index, m.name.c_str(), m.rect.width,
                            m.rect.height, m.rect.x, m.rect.y, m.primary ? " primary" : "");
            return kExitOk;
        }
        if (output_.empty())
            throw CommandError("capture needs -o FILE (or --list-monitors)", kExitUsage);
        source.set_include_cursor(cursor_);
        const vision::Frame frame =
            monitor_ >= 0 ? source.capture_monitor(monitor_) : source.capture();
        vision::write_image(frame, output_, jpeg_quality_);
        std::printf("%s: %dx%d+%d+%d from %s\n", output_.c_str(), frame.width, frame.height,
                    frame.origin.x, frame.origin.y, source.display_name().c_str());
        return kExitOk;
    }

  private:
    std::string output_;
    std::string display_;
    int monitor_ = -1;
    bool cursor_ = false;
    bool list_monitors_ = false;
    int jpeg_quality_ = 90;
};

DESKPILOT_REGISTER_COMMAND(CaptureCommand);

}  // namespace
}  // namespace deskpilot::cli
