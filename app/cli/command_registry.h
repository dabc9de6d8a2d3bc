// The deskpilot command line is a set of subcommands, each in its own cli/cmd_<name>.cpp that
// registers itself with DESKPILOT_REGISTER_COMMAND. The full list of subcommands DESIGN.md
// names is fixed here; one whose file does not exist yet reports that it is not built.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace deskpilot::cli {

// Exit statuses shared by all subcommands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;  // bad command line, or a subcommand that is not built

// A failure the user can act on; main prints "deskpilot <command>: <message>".
class CommandError : public std::runtime_error {
  public:
    explicit CommandError(const std::string& message, int exit_code = kExitError)
        : std::runtime_error(message), exit_code_(exit_code) {}
    int exit_code() const { return exit_code_; }

  private:
    int exit_code_;
};

class Command {
  public:
    virtual ~Command() = default;
    virtual std::string name() const = 0;
    // Adds this command's options to its CLI11 subcommand.
    virtual void configure(CLI::App& app) = 0;
    // Runs after parsing; returns the exit status.
    virtual int run() = 0;
};

// Every subcommand of DESIGN.md, in the order --help lists them, with a one-line summary.
struct CommandInfo {
    const char* name;
    const char* summary;
};
const std::vector<CommandInfo>& all_commands();

void register_command(std::unique_ptr<Command> command);
Command* find_command(const std::string& name);

template <typename T>
struct CommandRegistrar {
    CommandRegistrar() { register_command(std::make_unique<T>()); }
};

}  // namespace deskpilot::cli

#define DESKPILOT_CONCAT_INNER(a, b) a##b
#define DESKPILOT_CONCAT(a, b) DESKPILOT_CONCAT_INNER(a, b)
#define DESKPILOT_REGISTER_COMMAND(Type)                                                         \
    static const ::deskpilot::cli::CommandRegistrar<Type> DESKPILOT_CONCAT(deskpilot_registrar_, \
                                                                           __LINE__)
