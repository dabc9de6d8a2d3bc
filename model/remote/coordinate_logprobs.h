// The coordinate readout (model/engine/coordinate_readout.h) for an OpenAI-compatible server's
// answer. A server gives no logits, but with "logprobs": true and "top_logprobs": k it sends, for
// each token it wrote, that token's log-probability and the k most likely tokens' (vLLM and
// OpenAI allow k up to 20, llama.cpp's server more). Where a model writes each coordinate as one
// number token (deskpilot-nano), the numbers within the window among them are its distribution,
// cut to the k most likely: those missing are less likely than every one present.
//
// Two differences from the engine, both because the server has already chosen every token:
// - the server conditions the y coordinate on the x it wrote (its most likely number), the
//   engine on the x the readout wrote;
// - where the window holds more numbers than k, the least likely are left out.
//
// Which numbers are coordinates is read from the text, as the server may strip special tokens:
// a box starts after "<|box_start|>" or "_box='" and ends at "<|box_end|>", ")" or "]". A token
// is a coordinate when it is a whole number inside a box: all digits, with no digit just before
// it or at the start of the next token. That holds a number back until the next token arrives,
// and leaves a model that writes digit by digit (Qwen's tokenizers) untouched.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace deskpilot::model::remote {

// One entry of a choice's "logprobs": {"content": [...]}.
struct TokenLogprobs {
    std::string token;
    double logprob = 0;
    std::vector<std::pair<std::string, double>> top;  // top_logprobs: token, logprob
};

// The entries of choice["logprobs"]["content"]; nullopt when the choice has none or they are not
// in that shape (a server that ignored the request for them).
std::optional<std::vector<TokenLogprobs>> token_logprobs(const nlohmann::json& choice);

// The number of top_logprobs to ask for with a window: every number of the window, at most 20
// (the OpenAI API's and vLLM's limit).
int top_logprobs_for(int window);

class TextCoordinateReadout {
  public:
    // Window 0: every token passes unchanged.
    explicit TextCoordinateReadout(int window) : window_(window) {}

    // The text to show now for one token: a whole number inside a box is read from the token's
    // alternatives; a number waits until the next token shows it was whole.
    std::string feed(const TokenLogprobs& token);
    // Text that came without logprobs: what waits, unchanged, then `text`.
    std::string pass(std::string_view text);
    // The end of the answer: what waits, read as a whole number.
    std::string finish();
    // Coordinates the readout moved so far.
    int moved() const { return moved_; }

  private:
    std::string release(bool whole);
    void track(std::string_view shown);

    int window_ = 0;
    bool in_box_ = false;
    std::string tail_;  // the last characters shown, for the box markers and the digit before
    std::optional<TokenLogprobs> held_;
    int moved_ = 0;
};

}  // namespace deskpilot::model::remote
