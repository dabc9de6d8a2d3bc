// agent::ChildProcess: starts a helper program (Xvfb, the sandbox) and makes sure it ends.
// The child is killed when this object is destroyed and, through PR_SET_PDEATHSIG, when the
// thread that started it dies, so a crashed test or demo never leaves a process behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace deskpilot::agent {

class ProcessError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct SpawnOptions {
    std::vector<std::string> argv;                             // argv[0] is looked up on PATH
    std::vector<std::pair<std::string, std::string>> env_set;  // added or replaced
    std::vector<std::string> env_unset;
    std::filesystem::path stdout_path;  // empty: /dev/null
    std::filesystem::path stderr_path;  // empty: /dev/null
    int stderr_fd = -1;         // used instead of stderr_path when >= 0; the caller keeps it
    std::vector<int> keep_fds;  // descriptors the child inherits as they are
};

class ChildProcess {
  public:
    // Throws ProcessError naming the program when it cannot be started (e.g. not installed).
    explicit ChildProcess(const SpawnOptions& options);
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    pid_t pid() const { return pid_; }
    const std::string& program() const { return program_; }

    // True while the process has not exited (reaps it if it has).
    bool running();
    // The wait status once it has exited (see WIFEXITED etc.), nullopt while running.
    std::optional<int> wait_status();
    // Waits up to `timeout` for an exit; true when it has exited.
    bool wait_for(std::chrono::milliseconds timeout);
    // SIGTERM, then SIGKILL after `grace`; returns once the process is reaped.
    void terminate(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));

  private:
    pid_t pid_ = -1;
    std::string program_;
    std::optional<int> status_;
};

// "exited with status 3", "killed by signal 9 (Killed)".
std::string describe_wait_status(int status);

}  // namespace deskpilot::agent
