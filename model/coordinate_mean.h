// The coordinate readout's arithmetic, one copy for both readers of a distribution: the native
// engine (model/engine/coordinate_readout.h, from logits) and the OpenAI-compatible client
// (model/remote/coordinate_logprobs.h, from a server's top_logprobs).
#pragma once

#include <algorithm>
#include <cmath>
#include <span>
#include <utility>

namespace deskpilot::model {

// Round half to even (the default rounding mode, as Python's round() in the twin,
// tools/train_nano/nano_common.coordinate_readout) of the mean of the values weighted by e^score,
// renormalised over the pairs given: scores may be logits or log-probabilities, as any offset
// common to all cancels. `scored` must not be empty.
inline int weighted_coordinate(std::span<const std::pair<int, double>> scored) {
    double top = scored.front().second;
    for (const auto& [value, score] : scored) top = std::max(top, score);
    double mass = 0, moment = 0;
    for (const auto& [value, score] : scored) {
        const double p = std::exp(score - top);
        mass += p;
        moment += p * value;
    }
    return int(std::nearbyint(moment / mass));
}

}  // namespace deskpilot::model
