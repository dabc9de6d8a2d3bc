// model::Vlm: a vision-language model that turns a planner::Request into text. Implemented by
// the OpenAI-compatible remote client (model/remote/) and the native engine (model/engine/).
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "planner/family.h"
#include "planner/request.h"

namespace deskpilot::model {

struct GenerateOptions {
    double temperature = 0.0;  // UI-TARS-desktop uses 0
    double top_p = 0.7;
    int max_tokens = 1024;
    double frequency_penalty = 0.0;
    std::vector<std::string> stop;
    std::optional<unsigned long long> seed;
};

struct Response {
    std::string text;
    std::string finish_reason;  // "stop", "length", "cancelled", ...
    int prompt_tokens = 0;
    int completion_tokens = 0;
    double time_to_first_token_ms = 0.0;
    double total_ms = 0.0;
};

// Set from any thread; backends check it often enough to give up within 100 ms.
class CancelToken {
  public:
    void cancel() { cancelled_.store(true, std::memory_order_release); }
    void reset() { cancelled_.store(false, std::memory_order_release); }
    bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

  private:
    std::atomic<bool> cancelled_{false};
};

using TextCallback = std::function<void(std::string_view chunk)>;

// A model call that failed; the message is meant for the user and never contains secrets.
class ModelError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class Vlm {
  public:
    virtual ~Vlm() = default;
    // Streams text through on_text as it is produced and returns the whole response.
    // Throws ModelError on failure; returns with finish_reason "cancelled" when cancelled.
    virtual Response generate(const planner::Request& request, const GenerateOptions& options,
                              const TextCallback& on_text, const CancelToken& cancel) = 0;
    // A short description for logs and session manifests, e.g. "remote ui-tars-1.5 @ host:8000".
    virtual std::string describe() const = 0;
    // A hint that `frame` will be sent soon for `family`: a backend may prepare it now (resize,
    // encode) so that the next generate() does not pay for it. Called from another thread while
    // the agent waits for the screen to settle; must be thread-safe; never throws.
    virtual void prepare_image(const vision::Frame& /*frame*/, const std::string& /*family*/) {}
    // `family` as this backend shows it screenshots, so that the agent maps the coordinates the
    // model writes from the image it was given. The same family for a backend that cannot tell;
    // the native engine gives a family that is sized_by_checkpoint its checkpoint's bounds.
    virtual planner::ModelFamily family_as_seen(const planner::ModelFamily& family) const {
        return family;
    }
};

}  // namespace deskpilot::model
