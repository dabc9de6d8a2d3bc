#include "xorg_dummy_display.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

namespace deskpilot::testing {

namespace {

std::string modeline(const std::string& name, int w, int h) {
    // A plain 60 Hz modeline; the dummy driver only checks it against the monitor's ranges.
    std::ostringstream m;
    m << "  Modeline \"" << name << "\" " << (w + 256.0) * (h + 28.0) * 60.0 / 1e6 << " " << w
      << " " << w + 40 << " " << w + 168 << " " << w + 256 << " " << h << " " << h + 1 << " "
      << h + 5 << " " << h + 28 << "\n";
    return m.str();
}

std::string config_for(const std::vector<vision::Size>& monitors,
                       const std::vector<vision::Size>& extra_modes) {
    std::ostringstream c;
    c << "Section \"ServerFlags\"\n  Option \"AutoAddDevices\" \"false\"\n  Option "
         "\"AutoEnableDevices\" \"false\"\n"
         "  Option \"DontVTSwitch\" \"true\"\n  Option \"Xinerama\" \""
      << (monitors.size() > 1 ? "true" : "false") << "\"\nEndSection\n";
    for (std::size_t i = 0; i < monitors.size(); ++i) {
        int w = monitors[i].width, h = monitors[i].height;
        std::string modes = "\"mode" + std::to_string(i) + "\"";
        std::string lines = modeline("mode" + std::to_string(i), w, h);
        if (i == 0)
            for (std::size_t k = 0; k < extra_modes.size(); ++k) {
                const std::string name = "extra" + std::to_string(k);
                lines += modeline(name, extra_modes[k].width, extra_modes[k].height);
                modes += " \"" + name + "\"";
                w = std::max(w, extra_modes[k].width);
                h = std::max(h, extra_modes[k].height);
            }
        c << "Section \"Device\"\n  Identifier \"card" << i
          << "\"\n  Driver \"dummy\"\n  VideoRam 256000\nEndSection\n"
          << "Section \"Monitor\"\n  Identifier \"mon" << i
          << "\"\n  HorizSync 5.0 - 1000.0\n  VertRefresh 5.0 - 200.0\n"
          << lines << "EndSection\n"
          << "Section \"Screen\"\n  Identifier \"screen" << i << "\"\n  Device \"card" << i
          << "\"\n  Monitor \"mon" << i
          << "\"\n  DefaultDepth 24\n  SubSection \"Display\"\n    Depth 24\n    Modes " << modes
          << "\n    Virtual " << w << " " << h << "\n  EndSubSection\nEndSection\n";
    }
    c << "Section \"ServerLayout\"\n  Identifier \"layout\"\n  Screen 0 \"screen0\" 0 0\n";
    for (std::size_t i = 1; i < monitors.size(); ++i)
        c << "  Screen " << i << " \"screen" << i << "\" RightOf \"screen" << i - 1 << "\"\n";
    c << "EndSection\n";
    return c.str();
}

std::string tail_of(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    return text.size() > 800 ? "..." + text.substr(text.size() - 800) : text;
}

}  // namespace

std::optional<std::string> XorgDummyDisplay::unavailable() {
    if (::access("/usr/bin/Xorg", X_OK) != 0 && ::access("/usr/lib/xorg/Xorg", X_OK) != 0)
        return "Xorg is not installed (Debian package xserver-xorg-core)";
    if (::access("/usr/lib/xorg/modules/drivers/dummy_drv.so", R_OK) != 0)
        return "the Xorg dummy driver is not installed (Debian package xserver-xorg-video-dummy)";
    return std::nullopt;
}

XorgDummyDisplay::XorgDummyDisplay(const std::vector<vision::Size>& monitors,
                                   const std::vector<vision::Size>& extra_modes) {
    char dir_template[] = "/tmp/deskpilot-xorg-XXXXXX";
    if (!::mkdtemp(dir_template))
        throw agent::ProcessError("cannot create a directory for Xorg's config");
    dir_ = dir_template;
    std::filesystem::create_directories(dir_ / "conf.d");
    std::ofstream(dir_ / "xorg.conf") << config_for(monitors, extra_modes);

    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw agent::ProcessError("cannot start Xorg: pipe failed");
    agent::SpawnOptions spawn;
    spawn.argv = {"Xorg",
                  "-displayfd",
                  std::to_string(fds[1]),
                  "-config",
                  (dir_ / "xorg.conf").string(),
                  "-configdir",
                  (dir_ / "conf.d").string(),
                  "-logfile",
                  (dir_ / "Xorg.log").string(),
                  "-nolisten",
                  "tcp",
                  "-noreset",
                  "-novtswitch",
                  "-sharevts"};
    spawn.stderr_path = dir_ / "stderr.txt";
    spawn.keep_fds = {fds[1]};
    process_ = std::make_unique<agent::ChildProcess>(spawn);
    ::close(fds[1]);
    std::string text;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (text.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        pollfd pfd{fds[0], POLLIN, 0};
        if (::poll(&pfd, 1, 200) <= 0) continue;
        char buf[32];
        const ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n <= 0) break;
        text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    if (text.find('\n') == std::string::npos) {
        process_->terminate(std::chrono::milliseconds(500));
        throw agent::ProcessError("Xorg (dummy driver) did not start: " +
                                  tail_of(dir_ / "stderr.txt"));
    }
    name_ = ":" + std::to_string(std::stoi(text));
}

XorgDummyDisplay::~XorgDummyDisplay() {
    if (process_) process_->terminate();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
}

}  // namespace deskpilot::testing
