// model::RemoteVlm: the client for OpenAI-compatible chat endpoints (vLLM, SGLang, llama.cpp's
// server, Ollama, hosted services). Streams over SSE, falls back to one plain call when a
// server refuses streaming, retries what is worth retrying, and explains every failure in one
// message that never contains the API key.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/remote/chat_body.h"
#include "model/remote/endpoint.h"
#include "model/remote/retry.h"
#include "model/vlm.h"

namespace deskpilot::model {

namespace remote {
// "Name: value" from a --header option; throws ModelError when there is no colon or no name.
std::pair<std::string, std::string> parse_header_option(std::string_view text);
}  // namespace remote

struct RemoteConfig {
    std::string endpoint;     // base URL, with or without /v1
    std::string model;        // the model name the server knows
    std::string api_key_env;  // environment variable holding the API key; empty: send none
    std::vector<std::pair<std::string, std::string>> headers;  // extra request headers
    remote::ImageEncoding image;  // PNG (default) or JPEG with a quality

    std::chrono::milliseconds connect_timeout{10'000};
    // Longest silence while a streamed answer is arriving (including the wait for its first
    // byte, which covers the server's prefill). Not applied to non-streamed calls, whose first
    // byte comes only when the whole answer is done.
    std::chrono::milliseconds idle_timeout{120'000};
    std::chrono::milliseconds overall_timeout{600'000};  // one attempt, start to end
    std::size_t max_answer_bytes = 64u << 20;  // a longer answer is an error, not a memory hog
    remote::RetryPolicy retry;

    bool stream = true;  // ask for SSE; turned off by itself when the server refuses it
    // The coordinate readout (model/remote/coordinate_logprobs.h) for a model with one token per
    // number: greedy answers ask for top_logprobs, and each coordinate becomes the mean of the
    // numbers within this window of the one written. 0: off.
    int coordinate_window = 0;
    // Notices worth showing (retries, the fallback to non-streaming); already redacted.
    std::function<void(const std::string&)> log;
    std::optional<std::uint64_t> jitter_seed;  // fixes the backoff jitter (tests)
};

class RemoteVlm : public Vlm {
  public:
    // Throws ModelError for a malformed endpoint, a header that is not "Name: value", or an
    // api_key_env variable that is unset or empty.
    explicit RemoteVlm(RemoteConfig config);

    Response generate(const planner::Request& request, const GenerateOptions& options,
                      const TextCallback& on_text, const CancelToken& cancel) override;
    std::string describe() const override;
    // Resizes and encodes the frame into the data-URL cache, so the request that sends it
    // finds it ready.
    void prepare_image(const vision::Frame& frame, const std::string& family) override;

    // GET {base}/models: the ids the server offers, in its order.
    std::vector<std::string> list_models(const CancelToken& cancel) const;
    std::vector<std::string> list_models() const;

    // Before the first step: throws ModelError "model X not found at …; the server offers: …"
    // when the server lists its models and the configured one is not among them. Returns false
    // when the server has no model list to check against (404 on /models), true when found.
    bool check_model() const;

    const remote::Endpoint& endpoint() const { return endpoint_; }
    const RemoteConfig& config() const { return config_; }
    // False once the server has refused a streamed request; later calls then go unstreamed.
    bool streaming() const { return config_.stream && !stream_refused_.load(); }

  private:
    struct Attempt;
    struct StreamState;

    Attempt attempt_chat(nlohmann::json& body, bool stream, int images, int window,
                         const TextCallback& on_text, const CancelToken& cancel,
                         StreamState& state) const;
    Attempt attempt_models(const CancelToken& cancel, std::vector<std::string>& out) const;
    std::string not_found_message(std::string_view server_text, const CancelToken& cancel) const;
    std::vector<std::string> request_headers(bool json_body, bool stream) const;
    ModelError fail(const std::string& message) const;
    void note(const std::string& message) const;

    RemoteConfig config_;
    remote::Endpoint endpoint_;
    std::string api_key_;
    std::vector<std::string> secrets_;  // redacted from every message
    mutable remote::ImageEncoder encoder_;
    std::atomic<bool> stream_refused_{false};
    mutable std::atomic<std::uint64_t> calls_{0};
};

}  // namespace deskpilot::model
