// `--coordinate-window N` (generate, run, eval): how greedy coordinates are read from a model with
// one token per number, by the native engine (model/engine/coordinate_readout.h) or from an
// endpoint's top_logprobs (model/remote/coordinate_logprobs.h).
#pragma once

#include <CLI/CLI.hpp>

#include <optional>

namespace deskpilot::cli {

class CoordinateWindowOption {
  public:
    void add(CLI::App& app) {
        app.add_option("--coordinate-window", value_,
                       "Write each coordinate as the mean of the numbers within N of the most "
                       "likely one (greedy answers of a model with one token per number; with "
                       "--endpoint, read from the server's top_logprobs); 0: the most likely "
                       "number; default: the checkpoint's deskpilot.json, else 0")
            ->check(CLI::Range(0, 1000));
    }
    // For NativeVlmConfig::coordinate_window: unset when not given (the checkpoint's window);
    // RemoteConfig::coordinate_window takes 0 then.
    std::optional<int> value() const { return value_; }

  private:
    std::optional<int> value_;
};

}  // namespace deskpilot::cli
