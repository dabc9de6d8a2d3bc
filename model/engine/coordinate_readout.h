// Coordinate readout: where a model writes each coordinate as one number token (deskpilot-nano's
// tokenizer has a token for every integer 0..999), greedy decoding takes the most likely number,
// but the distribution around it says more. A model trained with smoothed number targets
// (train.py --number-sigma) spreads its belief over neighbouring numbers, and its most likely one
// can sit a row or a radio away from where the mass is. The readout writes the mean of the numbers
// within `window` of the most likely one, weighted by their probabilities (renormalised within the
// window), rounded half to even; tools/train_nano/nano_common.coordinate_readout is its twin.
// With deskpilot-nano's checkpoint of the thirty-third run (RVYZ), the engine grounds 1 230 of
// the 1 350 targets of held-out seeds 0..149 with a window of 16, against 1 197 with the most
// likely number (tools/train_nano/README.md, the thirty-seventh run).
//
// It applies only inside a box (after <|box_start|>, before <|box_end|>), where every number is a
// coordinate: a number the model types or a key it presses is never moved.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/engine/tokenizer.h"

namespace deskpilot::model::engine {

class CoordinateReadout {
  public:
    // Window 0: off (the most likely token, always). Window > 0 needs a tokenizer with the box
    // tokens and one token for each integer from 0 up to at least 99; throws
    // std::invalid_argument saying which is missing, or for a negative window.
    CoordinateReadout(const Tokenizer& tokenizer, int window);

    int window() const { return window_; }
    // Before a new answer: not inside a box.
    void reset() { in_box_ = false; }
    // Feed each token as it is emitted; tracks whether the next one is inside a box.
    void observe(std::int32_t id);
    // Whether the next token's choice needs its logits (a decoder that picks tokens itself must
    // hand them over for it).
    bool wants_logits() const { return window_ > 0 && in_box_; }
    // The token to emit, given the logits and the greedy choice `mode` (their argmax): `mode`
    // itself unless wants_logits() and `mode` is a number token.
    std::int32_t choose(std::span<const float> logits, std::int32_t mode) const;

  private:
    int window_ = 0;
    std::int32_t box_start_ = -1, box_end_ = -1;
    std::vector<std::int32_t> number_token_;  // value -> token id
    std::vector<std::int32_t> value_of_;      // token id -> value, -1 for a token of no number
    bool in_box_ = false;
};

}  // namespace deskpilot::model::engine
