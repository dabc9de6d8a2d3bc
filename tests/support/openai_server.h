// A scripted OpenAI-compatible chat server on loopback, for tests: real HTTP/1.1 over a real
// socket, SSE streaming with chunked transfer encoding, every request recorded. Each chat
// request is answered by the next scripted reply, else by the handler (a C++ function that
// computes the answer from the request: the "scripted model" of the agent and eval tests), else
// by the default reply. Knobs imitate vLLM: an API key, a model list with 404 for unknown
// models, a per-prompt image limit, and servers that refuse or ignore streaming.
//
// Plain POSIX sockets and threads; no Qt, so Qt-free code can use it too.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace deskpilot::testing {

struct RecordedRequest {
    std::string method;
    std::string path;                            // without the query
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
    nlohmann::json json;  // the parsed body; null when it is not JSON
    std::chrono::steady_clock::time_point received;

    std::string header(const std::string& lower_name) const;
    bool wants_stream() const;
    // The image_url URLs of all messages, in order.
    std::vector<std::string> image_urls() const;
    // The text of every text part (and string content) of all messages, joined by '\n'.
    std::string all_text() const;
};

struct ScriptedReply {
    int status = 200;
    std::string text;                 // the assistant's answer (status 200)
    std::vector<std::string> chunks;  // streamed pieces; empty: text cut into small pieces
    std::string finish_reason = "stop";
    int prompt_tokens = 100;
    int completion_tokens = -1;                // -1: the number of chunks
    std::chrono::milliseconds delay{0};        // before the status line (prefill time)
    std::chrono::milliseconds chunk_delay{0};  // between streamed pieces (a slow drip)
    std::vector<std::pair<std::string, std::string>> headers;  // extra response headers
    std::optional<std::string> raw_body;  // sent as is, with content_type, instead of an answer
    std::string content_type = "application/json";
    // OpenAI "logprobs" content entries ({"token", "logprob", "top_logprobs"}), one per piece of
    // `chunks`: each streamed piece carries its entry, and a plain answer carries them all.
    std::vector<nlohmann::json> logprobs;
    int truncate_after = -1;  // streaming: hang up after this many pieces, unfinished
    bool hang_up = false;     // close the connection without answering at all

    // A normal answer (streamed when the request asks for it).
    static ScriptedReply answer(std::string text);
    // An answer streamed as exactly these pieces, `gap` apart.
    static ScriptedReply drip(std::vector<std::string> pieces, std::chrono::milliseconds gap);
    // An OpenAI-style error body {"error":{"message","type","code"}}.
    static ScriptedReply error(int status, std::string message, std::string type = "");
    // 429 with Retry-After (seconds).
    static ScriptedReply too_many_requests(std::string retry_after);
    static ScriptedReply raw(int status, std::string content_type, std::string body);
    // Streams `pieces`, then hangs up after `after` of them without finishing.
    static ScriptedReply truncated(std::vector<std::string> pieces, int after);
    static ScriptedReply disconnect();
};

enum class StreamSupport {
    sse,     // streams when asked (vLLM, llama.cpp, Ollama)
    refuse,  // answers a streamed request with 400 "streaming is not supported"
    ignore,  // answers a streamed request with plain JSON, as if stream were false
};

class OpenAiServer {
  public:
    using Handler = std::function<ScriptedReply(const RecordedRequest&)>;

    OpenAiServer();  // listens on 127.0.0.1, on a free port; throws std::runtime_error
    ~OpenAiServer();
    OpenAiServer(const OpenAiServer&) = delete;
    OpenAiServer& operator=(const OpenAiServer&) = delete;

    int port() const { return port_; }
    std::string root_url() const;  // http://127.0.0.1:PORT
    std::string base_url() const;  // http://127.0.0.1:PORT/v1

    // GET /v1/models lists these; with check_model, chat requests for any other model get vLLM's
    // 404 "The model `X` does not exist."
    void set_models(std::vector<std::string> models, bool check_model = true);
    // Requests without "Authorization: Bearer <key>" get 401.
    void set_api_key(std::string key);
    void set_stream_support(StreamSupport support);
    // vLLM's --limit-mm-per-prompt: more images than this in one request get vLLM's 400.
    void set_image_limit(int images);
    // Answers /v1/models with this reply instead of the list.
    void set_models_reply(std::optional<ScriptedReply> reply);

    void push(ScriptedReply reply);  // the answer to the next chat request
    void set_handler(Handler handler);
    void set_default(ScriptedReply reply);

    std::vector<RecordedRequest> requests() const;       // every request, in arrival order
    std::vector<RecordedRequest> chat_requests() const;  // POST …/chat/completions only
    bool wait_for_requests(std::size_t count, std::chrono::milliseconds timeout) const;
    // Connections whose client went away before the answer was finished (cancelled transfers).
    int abandoned_connections() const { return abandoned_.load(); }

  private:
    void accept_loop();
    void serve(int fd);
    ScriptedReply choose_reply(const RecordedRequest& request);
    void send_reply(int fd, const RecordedRequest& request, const ScriptedReply& reply);
    bool pause(std::chrono::milliseconds duration) const;  // false when the server is stopping

    int listen_fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stopping_{false};
    std::atomic<int> abandoned_{0};
    std::thread acceptor_;

    mutable std::mutex mutex_;
    mutable std::condition_variable arrived_;
    std::vector<std::thread> workers_;
    std::vector<int> open_fds_;
    std::vector<RecordedRequest> requests_;
    std::deque<ScriptedReply> queue_;
    Handler handler_;
    ScriptedReply default_reply_;
    std::vector<std::string> models_{"ui-tars-1.5-7b"};
    bool check_model_ = false;
    std::string api_key_;
    StreamSupport stream_support_ = StreamSupport::sse;
    int image_limit_ = -1;
    std::optional<ScriptedReply> models_reply_;
};

// Base64 (RFC 4648) decoding; nullopt on a character outside the alphabet.
std::optional<std::vector<std::uint8_t>> decode_base64(std::string_view text);

struct DataUrl {
    std::string mime;  // e.g. image/png
    std::vector<std::uint8_t> bytes;
};
// Parses "data:<mime>;base64,<data>"; nullopt for anything else.
std::optional<DataUrl> parse_data_url(std::string_view url);

}  // namespace deskpilot::testing
