// deskpilot: the command line. Subcommands live in cli/cmd_<name>.cpp.
#include <cstdio>
#include <exception>
#include <iostream>

#include "cli/command_registry.h"
#include "deskpilot/build_info.h"
#include "model/engine/cuda/device.h"

namespace {

std::string version_text() {
    namespace build = deskpilot::build;
    std::string text = std::string("deskpilot ") + build::kVersion + "\n";
    text += std::string("build: ") + build::kBuildType + ", " + build::kCompiler;
    if (*build::kSanitizers) text += std::string(", sanitizers ") + build::kSanitizers;
    text += "\n";
    if (build::kCuda) {
        const auto gpus = deskpilot::model::cuda::devices();
        text += std::string("cuda: on (nvcc ") + build::kCudaVersion + ", architectures " +
                build::kCudaArchitectures + "), " + std::to_string(gpus.size()) + " GPU(s) visible";
        for (const auto& g : gpus) text += "\n  gpu " + std::to_string(g.index) + ": " + g.name;
    } else {
        text += "cuda: off";
    }
    return text;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace deskpilot::cli;
    CLI::App app{
        "Deskpilot: a vision-language agent that operates a real desktop, under a person's "
        "supervision",
        "deskpilot"};
    app.require_subcommand(1);
    app.set_version_flag("--version", version_text());
    app.footer("Run 'deskpilot COMMAND --help' for a command's options.");

    for (const auto& info : all_commands()) {
        Command* command = find_command(info.name);
        CLI::App* sub = app.add_subcommand(
            info.name, command ? info.summary : std::string(info.summary) + " (not built yet)");
        if (command) {
            command->configure(*sub);
        } else {
            sub->allow_extras();
            sub->prefix_command();
        }
    }

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? kExitOk : kExitUsage;
    }

    for (const auto& info : all_commands()) {
        CLI::App* sub = app.get_subcommand(info.name);
        if (!sub->parsed()) continue;
        Command* command = find_command(info.name);
        if (!command) {
            std::fprintf(stderr, "deskpilot %s: this command is not built yet\n", info.name);
            return kExitUsage;
        }
        try {
            return command->run();
        } catch (const CommandError& e) {
            std::fprintf(stderr, "deskpilot %s: %s\n", info.name, e.what());
            return e.exit_code();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "deskpilot %s: %s\n", info.name, e.what());
            return kExitError;
        }
    }
    return kExitUsage;
}
