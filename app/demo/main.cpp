// deskpilot-demo, what `make demo` runs: starts a private X server (never your own display)
// with the sandbox app on it, captures the screen and says where the results are.
#include <cstdio>
#include <exception>
#include <filesystem>

#include "agent/private_display.h"
#include "agent/sandbox_process.h"
#include "vision/image_io.h"
#include "vision/x11_screen_source.h"

int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    using namespace deskpilot;
    const fs::path out_dir = argc > 1 ? fs::path(argv[1]) : fs::path("demo-out");
    try {
        fs::create_directories(out_dir);
        std::printf("deskpilot demo: starting a private X server...\n");
        agent::PrivateDisplay display({.screens = {{1280, 800}}});
        std::printf("deskpilot demo: X server on %s; starting the sandbox app...\n", display.name().c_str());
        agent::SandboxProcess sandbox({.display = display.name(), .work_dir = out_dir / "sandbox",
                                       .geometry = vision::Rect{0, 0, 1280, 800}});

        vision::X11ScreenSource screen(display.name());
        const vision::Frame frame = screen.capture();
        const fs::path shot = out_dir / "screenshot.png";
        vision::write_image(frame, shot);

        const auto layout = sandbox.layout();
        std::printf("deskpilot demo: captured %dx%d (%s) showing %zu sandbox widgets\n", frame.width, frame.height,
                    screen.method() == vision::X11ScreenSource::Method::shm ? "MIT-SHM" : "XGetImage",
                    layout.at("widgets").size());
        std::printf("  screenshot: %s\n", fs::absolute(shot).c_str());
        std::printf("  layout:     %s\n", fs::absolute(sandbox.layout_path()).c_str());
        std::printf("  events:     %s\n", fs::absolute(sandbox.state_path()).c_str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "deskpilot demo: %s\n", e.what());
        return 1;
    }
}
