#include "cli/command_registry.h"

#include <map>

namespace deskpilot::cli {

namespace {

std::map<std::string, std::unique_ptr<Command>>& registry() {
    static std::map<std::string, std::unique_ptr<Command>> commands;
    return commands;
}

}  // namespace

const std::vector<CommandInfo>& all_commands() {
    static const std::vector<CommandInfo> commands = {
        {"run", "Run the agent on a task"},
        {"replay", "Replay a recorded session, verifying the screen before each action"},
        {"record", "Record a human demonstration as a session"},
        {"report", "Write a self-contained HTML report of a session"},
        {"act", "Execute actions given as action JSON"},
        {"capture", "Capture the screen to a PNG or JPEG file"},
        {"parse", "Parse a model response into actions"},
        {"models", "List the models an OpenAI-compatible endpoint serves"},
        {"tokenize", "Tokenize text with a tokenizer.json (or decode ids)"},
        {"generate", "Generate text with the native engine"},
        {"eval", "Run the grounding or task benchmark"},
        {"panel", "Open the Qt control panel"},
        {"bench", "Run the built-in benchmarks"},
    };
    return commands;
}

void register_command(std::unique_ptr<Command> command) {
    const std::string name = command->name();
    registry()[name] = std::move(command);
}

Command* find_command(const std::string& name) {
    const auto it = registry().find(name);
    return it == registry().end() ? nullptr : it->second.get();
}

}  // namespace deskpilot::cli
