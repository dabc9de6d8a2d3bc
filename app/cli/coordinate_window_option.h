// `--coordinate-window N` for the native engine (generate, run, eval): how greedy coordinates are
// read from a model with one token per number (model/engine/coordinate_readout.h).
#pragma once

#include <CLI/CLI.hpp>

#include <optional>

namespace deskpilot::cli {

class CoordinateWindowOption {
  public:
    void add(CLI::App& app) {
        app.add_option("--coordinate-window", value_,
                       "Native engine: write each coordinate as the mean of the numbers within N "
                       "of the most likely one (greedy answers of a model with one token per "
                       "number); 0: the most likely number; default: the checkpoint's "
                       "deskpilot.json, else 0")
            ->check(CLI::Range(0, 1000));
    }
    // For NativeVlmConfig::coordinate_window: unset when not given (the checkpoint's window).
    std::optional<int> value() const { return value_; }

  private:
    std::optional<int> value_;
};

}  // namespace deskpilot::cli
