#include "agent/private_display.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace deskpilot::agent {

namespace {

// What Xvfb wrote to its log so far: the last `max_bytes` of it, without trailing blanks.
std::string tail_of(int fd, std::size_t max_bytes = 600) {
    std::string text;
    char buf[4096];
    off_t offset = 0;
    ssize_t n;
    while ((n = ::pread(fd, buf, sizeof buf, offset)) > 0) {
        text.append(buf, static_cast<std::size_t>(n));
        offset += n;
    }
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

    // Xvfb's log is an unlinked temporary file: it is read only when Xvfb fails to start, and
    // no process that dies here, even by SIGKILL, can leave it behind.
    std::error_code no_tmp;
    std::filesystem::path dir = std::filesystem::temp_directory_path(no_tmp);
    if (no_tmp) dir = "/tmp";
    std::string log_template = (dir / "deskpilot-xvfb-XXXXXX").string();
    log_fd_ = ::mkostemp(log_template.data(), O_CLOEXEC);
    if (log_fd_ >= 0) ::unlink(log_template.c_str());

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
    spawn.stderr_fd = log_fd_;  // -1 (no log: /dev/null) when the temporary directory is unusable
    spawn.keep_fds = {fds[1]};
    try {
        process_ = std::make_unique<ChildProcess>(spawn);
    } catch (...) {
        ::close(fds[0]);
        ::close(fds[1]);
        close_log();
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
        const std::string log = log_fd_ >= 0 ? tail_of(log_fd_) : "";
        close_log();
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
    close_log();
}

void PrivateDisplay::close_log() {
    if (log_fd_ >= 0) ::close(log_fd_);
    log_fd_ = -1;
}

}  // namespace deskpilot::agent
