#include "agent/private_display.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace deskpilot::agent {

namespace {

std::string tail_of(const std::filesystem::path& path, std::size_t max_bytes = 600) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    if (text.size() > max_bytes) text = "..." + text.substr(text.size() - max_bytes);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
}

}  // namespace

PrivateDisplay::PrivateDisplay(const XvfbOptions& options) {
    if (options.screens.empty()) throw ProcessError("Xvfb needs at least one screen");
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
        throw ProcessError(std::string("cannot start Xvfb: pipe: ") + std::strerror(errno));

    char log_template[] = "/tmp/deskpilot-xvfb-XXXXXX";
    const int log_fd = ::mkstemp(log_template);
    if (log_fd >= 0) ::close(log_fd);
    log_path_ = log_template;

    SpawnOptions spawn;
    spawn.argv = {options.program, "-displayfd", std::to_string(fds[1]),
                  "-nolisten",     "tcp",        "-noreset"};
    for (std::size_t i = 0; i < options.screens.size(); ++i) {
        const auto& s = options.screens[i];
        spawn.argv.insert(spawn.argv.end(),
                          {"-screen", std::to_string(i),
                           std::to_string(s.width) + "x" + std::to_string(s.height) + "x" +
                               std::to_string(options.depth)});
    }
    if (options.xinerama) spawn.argv.push_back("+xinerama");
    spawn.stderr_path = log_path_;
    spawn.keep_fds = {fds[1]};
    try {
        process_ = std::make_unique<ChildProcess>(spawn);
    } catch (...) {
        ::close(fds[0]);
        ::close(fds[1]);
        throw;
    }
    ::close(fds[1]);

    // Xvfb writes the display number followed by a newline once it is ready for clients.
    std::string text;
    const auto deadline = std::chrono::steady_clock::now() + options.start_timeout;
    while (text.find('\n') == std::string::npos) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd pfd{fds[0], POLLIN, 0};
        const int r = ::poll(&pfd, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        char buf[32];
        const ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n <= 0) break;  // EOF: Xvfb exited
        text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    if (text.find('\n') == std::string::npos) {
        process_->terminate(std::chrono::milliseconds(500));
        const auto status = process_->wait_status();
        std::string why =
            status ? describe_wait_status(*status) : "did not report a display within the timeout";
        const std::string log = tail_of(log_path_);
        std::filesystem::remove(log_path_);
        throw ProcessError("Xvfb failed to start (" + why + ")" + (log.empty() ? "" : ": " + log));
    }
    number_ = std::stoi(text);
    name_ = ":" + std::to_string(number_);
}

PrivateDisplay::~PrivateDisplay() {
    stop();
}

void PrivateDisplay::stop() {
    if (process_) process_->terminate();
    if (!log_path_.empty()) {
        std::error_code ignored;
        std::filesystem::remove(log_path_, ignored);
        log_path_.clear();
    }
}

}  // namespace deskpilot::agent
