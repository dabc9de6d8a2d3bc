#include "agent/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

extern char** environ;

namespace deskpilot::agent {

namespace {

// Everything the child needs is prepared before fork(): after fork in a threaded program
// only async-signal-safe calls are allowed, so no allocation happens in the child.
struct PreparedExec {
    std::vector<std::string> env_storage;
    std::vector<char*> argv;
    std::vector<char*> envp;
};

PreparedExec prepare(const SpawnOptions& options, std::vector<std::string>& argv_storage) {
    PreparedExec p;
    for (char** e = environ; *e; ++e) {
        const std::string entry(*e);
        const std::string key = entry.substr(0, entry.find('='));
        const bool replaced = std::any_of(options.env_set.begin(), options.env_set.end(),
                                          [&](const auto& kv) { return kv.first == key; });
        const bool removed = std::find(options.env_unset.begin(), options.env_unset.end(), key) !=
                             options.env_unset.end();
        if (!replaced && !removed) p.env_storage.push_back(entry);
    }
    for (const auto& [key, value] : options.env_set) p.env_storage.push_back(key + "=" + value);
    for (auto& s : argv_storage) p.argv.push_back(s.data());
    p.argv.push_back(nullptr);
    for (auto& s : p.env_storage) p.envp.push_back(s.data());
    p.envp.push_back(nullptr);
    return p;
}

int open_output(const std::filesystem::path& path) {
    const char* target = path.empty() ? "/dev/null" : path.c_str();
    return ::open(target, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

}  // namespace

ChildProcess::ChildProcess(const SpawnOptions& options) {
    if (options.argv.empty()) throw ProcessError("cannot start a process with no program");
    program_ = options.argv.front();
    std::vector<std::string> argv_storage = options.argv;
    PreparedExec exec = prepare(options, argv_storage);

    const int out_fd = open_output(options.stdout_path);
    const int err_fd = options.stderr_fd >= 0 ? ::fcntl(options.stderr_fd, F_DUPFD_CLOEXEC, 0)
                                              : open_output(options.stderr_path);
    if (out_fd < 0 || err_fd < 0) {
        if (out_fd >= 0) ::close(out_fd);
        if (err_fd >= 0) ::close(err_fd);
        throw ProcessError("cannot open output files for " + program_ + ": " +
                           std::strerror(errno));
    }
    // The exec-error pipe is close-on-exec: it reads EOF on a successful exec, errno otherwise.
    int report[2];
    if (::pipe2(report, O_CLOEXEC) != 0) {
        ::close(out_fd);
        ::close(err_fd);
        throw ProcessError("cannot start " + program_ + ": pipe: " + std::strerror(errno));
    }
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
        const int error = errno;
        ::close(report[0]);
        ::close(report[1]);
        ::close(out_fd);
        ::close(err_fd);
        throw ProcessError("cannot start " + program_ + ": fork: " + std::strerror(error));
    }
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
        ::setpgid(0, 0);  // its own group: a Ctrl+C meant for us is not delivered to it twice
        ::dup2(out_fd, STDOUT_FILENO);
        ::dup2(err_fd, STDERR_FILENO);
        const int null_in = ::open("/dev/null", O_RDONLY);
        if (null_in >= 0) ::dup2(null_in, STDIN_FILENO);
        for (int fd : options.keep_fds) {
            const int flags = ::fcntl(fd, F_GETFD);
            if (flags >= 0) ::fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
        }
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execvpe(exec.argv[0], exec.argv.data(), exec.envp.data());
        const int error = errno;
        [[maybe_unused]] ssize_t ignored = ::write(report[1], &error, sizeof error);
        ::_exit(127);
    }
    ::close(report[1]);
    ::close(out_fd);
    ::close(err_fd);
    pid_ = pid;
    int error = 0;
    ssize_t n;
    do {
        n = ::read(report[0], &error, sizeof error);
    } while (n < 0 && errno == EINTR);
    ::close(report[0]);
    if (n == sizeof error) {
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        throw ProcessError("cannot start " + program_ + ": " + std::strerror(error) +
                           (error == ENOENT ? " (is it installed? run `make deps`)" : ""));
    }
}

ChildProcess::~ChildProcess() {
    if (pid_ > 0) terminate(std::chrono::milliseconds(1000));
}

bool ChildProcess::running() {
    return !wait_status().has_value();
}

std::optional<int> ChildProcess::wait_status() {
    if (status_ || pid_ <= 0) return status_;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) status_ = status;
    return status_;
}

bool ChildProcess::wait_for(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!wait_status()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
}

void ChildProcess::terminate(std::chrono::milliseconds grace) {
    if (pid_ <= 0 || wait_status()) return;
    ::kill(pid_, SIGTERM);
    if (!wait_for(grace)) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        if (::waitpid(pid_, &status, 0) == pid_) status_ = status;
    }
}

std::string describe_wait_status(int status) {
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
               ::strsignal(WTERMSIG(status)) + ")";
    return "ended with wait status " + std::to_string(status);
}

}  // namespace deskpilot::agent
