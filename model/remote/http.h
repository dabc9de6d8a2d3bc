// One HTTP exchange over libcurl's multi interface, polled every few milliseconds so that a
// cancel token, an idle-between-bytes timeout and an overall timeout all take effect promptly.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "model/vlm.h"

namespace deskpilot::model::remote {

struct HttpRequest {
    std::string method = "GET";  // GET or POST
    std::string url;
    std::vector<std::string> headers;  // "Name: value"
    std::string body;                  // sent when method is POST
    std::chrono::milliseconds connect_timeout{10000};
    std::chrono::milliseconds idle_timeout{0};  // longest silence between received bytes; 0: none
    std::chrono::milliseconds overall_timeout{0};  // whole exchange; 0: none
    std::size_t max_body_bytes = 64u << 20;        // a longer body ends the exchange (too_large)
};

struct HttpHead {
    long status = 0;
    std::string content_type;
    std::string retry_after;  // raw Retry-After header value, if any
};

enum class HttpOutcome {
    completed,        // a whole response arrived (any status)
    cancelled,        // the cancel token was set
    idle_timeout,     // nothing arrived for idle_timeout
    overall_timeout,  // the exchange took longer than overall_timeout
    transport_error,  // connection refused/reset, DNS, TLS, connect timeout, cut-off body...
    too_large,        // the body grew past max_body_bytes
};

struct HttpResult {
    HttpOutcome outcome = HttpOutcome::completed;
    HttpHead head;
    std::string body;               // every body byte received
    std::string transport_error;    // libcurl's explanation for transport_error
    bool response_started = false;  // whether a status line arrived
    std::chrono::milliseconds elapsed{0};
};

// Receives body bytes as they arrive, with the response head already known. May throw: the
// transfer is then aborted and the exception rethrown from perform().
using BodySink = std::function<void(const HttpHead& head, std::string_view bytes)>;

// How often the transfer loop wakes up to look at the cancel token and the timeouts.
inline constexpr std::chrono::milliseconds kHttpPollInterval{10};

HttpResult perform(const HttpRequest& request, const BodySink& sink, const CancelToken& cancel);

}  // namespace deskpilot::model::remote
