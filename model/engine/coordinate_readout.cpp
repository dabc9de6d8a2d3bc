#include "model/engine/coordinate_readout.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

#include "model/coordinate_mean.h"

namespace deskpilot::model::engine {

CoordinateReadout::CoordinateReadout(const Tokenizer& tokenizer, int window) : window_(window) {
    if (window < 0)
        throw std::invalid_argument("coordinate window " + std::to_string(window) +
                                    " is negative (0 turns the readout off)");
    if (window == 0) return;
    // Numbers 0, 1, 2, ... for as long as each is one token.
    for (int v = 0;; ++v) {
        const auto id = tokenizer.token_to_id(std::to_string(v));
        if (!id) break;
        number_token_.push_back(std::int32_t(*id));
    }
    if (number_token_.size() < 100) {
        const std::string has =
            number_token_.empty()
                ? "no token for 0"
                : "them for 0.." + std::to_string(number_token_.size() - 1) + " only";
        throw std::invalid_argument(
            "a coordinate window needs a tokenizer with one token per number, 0 to 99 at least "
            "(this one has " +
            has + ", so it writes a coordinate digit by digit)");
    }
    const auto start = tokenizer.token_to_id("<|box_start|>");
    const auto end = tokenizer.token_to_id("<|box_end|>");
    if (!start || !end)
        throw std::invalid_argument(
            "a coordinate window needs a tokenizer with <|box_start|> and <|box_end|>");
    box_start_ = std::int32_t(*start);
    box_end_ = std::int32_t(*end);
    value_of_.assign(tokenizer.vocab_size(), -1);
    for (std::size_t v = 0; v < number_token_.size(); ++v)
        if (std::size_t(number_token_[v]) < value_of_.size())
            value_of_[std::size_t(number_token_[v])] = std::int32_t(v);
}

void CoordinateReadout::observe(std::int32_t id) {
    if (window_ == 0) return;
    if (id == box_start_) in_box_ = true;
    if (id == box_end_) in_box_ = false;
}

std::int32_t CoordinateReadout::choose(std::span<const float> logits, std::int32_t mode) const {
    if (!wants_logits() || mode < 0 || std::size_t(mode) >= value_of_.size()) return mode;
    const int value = value_of_[std::size_t(mode)];
    if (value < 0) return mode;
    const int lo = std::max(0, value - window_);
    const int hi = std::min(int(number_token_.size()) - 1, value + window_);
    // Softmax over the window: the mode's logit is the window's largest.
    std::vector<std::pair<int, double>> scored;
    scored.reserve(std::size_t(hi - lo + 1));
    for (int v = lo; v <= hi; ++v) {
        const std::size_t id = std::size_t(number_token_[std::size_t(v)]);
        if (id < logits.size()) scored.emplace_back(v, double(logits[id]));
    }
    if (scored.empty()) return mode;
    const int mean = weighted_coordinate(scored);
    return number_token_[std::size_t(std::clamp(mean, lo, hi))];
}

}  // namespace deskpilot::model::engine
