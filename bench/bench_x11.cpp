// bench_x11: screen capture and actuation on a private 1920x1080 Xvfb, each against a baseline
// measured in the same run. Prints medians and ratios.
//   capture: MIT-SHM vs XGetImage vs Qt's QScreen::grabWindow
//   actuation: click latency and typing speed (200 mixed characters) vs xdotool
// Usage: bench_x11 [--iterations N]
#include <QGuiApplication>
#include <QPixmap>
#include <QScreen>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "actuators/x11_actuator.h"
#include "agent/private_display.h"
#include "agent/sandbox_process.h"
#include "vision/x11_screen_source.h"

using namespace deskpilot;
using Clock = std::chrono::steady_clock;

namespace {

double median_ms(int iterations, const std::function<void()>& body) {
    body();  // warm-up: first-time allocations, shared-memory attach
    std::vector<double> times;
    for (int i = 0; i < iterations; ++i) {
        const auto t0 = Clock::now();
        body();
        times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

// Runs xdotool with its arguments on `display`; exits on failure, since the comparison would
// be meaningless.
void xdotool(const std::string& display, const std::vector<std::string>& args) {
    const pid_t pid = fork();
    if (pid == 0) {
        setenv("DISPLAY", display.c_str(), 1);
        std::vector<char*> argv{const_cast<char*>("xdotool")};
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        execvp("xdotool", argv.data());
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "bench_x11: xdotool failed (is the xdotool package installed?)\n");
        std::exit(1);
    }
}

void row(const char* what, double ours, double baseline, const char* baseline_name,
         const char* unit) {
    std::printf("%-34s %10.3f %s   %-20s %10.3f %s   ratio %6.1fx\n", what, ours, unit,
                baseline_name, baseline, unit, baseline / ours);
}

}  // namespace

int main(int argc, char** argv) {
    int iterations = 30;
    for (int i = 1; i + 1 < argc; ++i)
        if (std::string(argv[i]) == "--iterations")
            iterations = std::max(3, std::atoi(argv[i + 1]));

    agent::PrivateDisplay display(agent::XvfbOptions{.screens = {{1920, 1080}}});
    const std::string name = display.name();
    std::printf("private Xvfb %s, 1920x1080, %d iterations, medians\n\n", name.c_str(), iterations);

    // ---- capture ----
    vision::X11ScreenSource shm(name, vision::X11ScreenSource::Method::shm);
    vision::X11ScreenSource get_image(name, vision::X11ScreenSource::Method::get_image);
    const double shm_ms = median_ms(iterations, [&] { (void)shm.capture(); });
    const double get_ms = median_ms(iterations, [&] { (void)get_image.capture(); });
    setenv("DISPLAY", name.c_str(), 1);
    setenv("QT_QPA_PLATFORM", "xcb", 1);
    int qt_argc = 1;
    char* qt_argv[] = {argv[0], nullptr};
    QGuiApplication app(qt_argc, qt_argv);
    QScreen* screen = QGuiApplication::primaryScreen();
    const double qt_ms = median_ms(iterations, [&] { (void)screen->grabWindow(0).toImage(); });
    std::printf("capture 1920x1080 (ms per frame)\n");
    row("  MIT-SHM (X11ScreenSource)", shm_ms, get_ms, "XGetImage", "ms");
    row("  MIT-SHM (X11ScreenSource)", shm_ms, qt_ms, "QScreen::grabWindow", "ms");
    std::printf("  target MIT-SHM >= 15x XGetImage: %s\n\n",
                get_ms / shm_ms >= 15 ? "met" : "NOT met");

    // ---- actuation ----
    actuators::X11Actuator hands(name);
    int i = 0;
    const double click_ms = median_ms(iterations, [&] { hands.click({100 + (i++ % 50), 200}); });
    const double xdo_click_ms = median_ms(iterations, [&] {
        xdotool(name, {"mousemove", std::to_string(100 + (i++ % 50)), "200", "click", "1"});
    });
    std::printf("actuation\n");
    row("  click latency (X11Actuator)", click_ms, xdo_click_ms, "xdotool", "ms");

    // 200 characters: ASCII, Latin-1 letters on the keymap's shift level, and characters
    // missing from the us keymap (typed through temporary keycodes by both tools).
    std::string text;
    const std::string piece = "Grüße, 世界 ✓ — naïve café! ";  // 26 characters
    int chars = 0;
    while (chars < 200) {
        for (std::size_t k = 0; k < piece.size() && chars < 200;) {
            const auto c = static_cast<unsigned char>(piece[k]);
            const std::size_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
            text += piece.substr(k, len);
            k += len;
            ++chars;
        }
    }
    // Typed into the sandbox's text field, so a real toolkit client has to follow the keymap
    // changes; after each run the field's text is compared with what was sent.
    agent::SandboxProcess sandbox({.executable = agent::default_sandbox_path(),
                                   .display = name,
                                   .geometry = vision::Rect{0, 0, 1500, 1000}});
    const auto field = sandbox.widget_rect("name")->center();
    auto field_text = [&](const std::string& expected) {
        const auto e = sandbox.wait_for_event(
            [&](const nlohmann::json& j) {
                return j.value("event", "") == "text" && j.value("widget", "") == "name" &&
                       j.value("value", "") == expected;
            },
            std::chrono::milliseconds(3000));
        return e.has_value();
    };
    auto clear = [&] {
        hands.click(field);
        hands.hotkey({"ctrl", "a"});
        hands.hotkey({"backspace"});
        field_text("");
    };
    const int reps = std::max(3, iterations / 10);
    int ours_ok = 0, xdo_ok = 0;
    std::vector<double> ours_ms, xdo_ms;
    for (int r = 0; r < reps; ++r) {
        clear();
        auto t0 = Clock::now();
        hands.type_text(text);
        ours_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        ours_ok += field_text(text);
        clear();
        t0 = Clock::now();
        xdotool(name, {"type", "--delay", "0", text});
        xdo_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        xdo_ok += field_text(text);
    }
    std::sort(ours_ms.begin(), ours_ms.end());
    std::sort(xdo_ms.begin(), xdo_ms.end());
    const double ours_cps = 200 / (ours_ms[reps / 2] / 1000),
                 xdo_cps = 200 / (xdo_ms[reps / 2] / 1000);
    std::printf("%-34s %10.0f c/s  %-20s %10.0f c/s  ratio %6.1fx\n", "  typing 200 mixed chars",
                ours_cps, "xdotool --delay 0", xdo_cps, ours_cps / xdo_cps);
    std::printf("  text arrived exactly: X11Actuator %d/%d, xdotool %d/%d\n", ours_ok, reps, xdo_ok,
                reps);
    return 0;
}
