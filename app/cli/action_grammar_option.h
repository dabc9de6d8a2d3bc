// `--action-grammar on|off` (generate, run, eval): whether the native engine keeps each answer a
// well-formed "[Thought: …\n]Action: call" (model/engine/action_grammar.h). Unset: the checkpoint's
// deskpilot.json decides. An endpoint's server decodes by itself, so the option needs --model-dir.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "cli/command_registry.h"

namespace deskpilot::cli {

class ActionGrammarOption {
  public:
    void add(CLI::App& app) {
        app.add_option("--action-grammar", value_,
                       "on: the native engine chooses only tokens that keep the answer a "
                       "well-formed UI-TARS action (deskpilot-nano's format); off: the model's "
                       "own choice; default: the checkpoint's deskpilot.json, else off")
            ->check(CLI::IsMember({"on", "off"}));
    }
    // For NativeVlmConfig::action_grammar: unset when not given.
    std::optional<bool> value() const {
        if (value_.empty()) return std::nullopt;
        return value_ == "on";
    }
    // Throws a usage error when the option was given for a model behind an endpoint.
    void require_native(bool native) const {
        if (!native && !value_.empty())
            throw CommandError(
                "--action-grammar needs --model-dir (the native engine); an "
                "endpoint's server chooses its own tokens",
                kExitUsage);
    }

  private:
    std::string value_;
};

}  // namespace deskpilot::cli
