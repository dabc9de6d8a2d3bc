// deskpilot capture -o FILE [--display :N]: one screenshot of the whole screen.
#include <cstdio>

#include "cli/command_registry.h"
#include "vision/image_io.h"
#include "vision/x11_screen_source.h"

namespace deskpilot::cli {
namespace {

class CaptureCommand : public Command {
public:
    std::string name() const override { return "capture"; }

    void configure(CLI::App& app) override {
        app.add_option("-o,--output", output_, "Image file to write (.png, .jpg)")->required();
        app.add_option("--display", display_, "X display, e.g. :1 (default: $DISPLAY)");
        app.add_option("--jpeg-quality", jpeg_quality_, "JPEG quality 0-100")->check(CLI::Range(0, 100));
    }

    int run() override {
        vision::X11ScreenSource source(display_);
        const vision::Frame frame = source.capture();
        vision::write_image(frame, output_, jpeg_quality_);
        std::printf("%s: %dx%d from %s\n", output_.c_str(), frame.width, frame.height, source.display_name().c_str());
        return kExitOk;
    }

private:
    std::string output_;
    std::string display_;
    int jpeg_quality_ = 90;
};

DESKPILOT_REGISTER_COMMAND(CaptureCommand);

}  // namespace
}  // namespace deskpilot::cli
