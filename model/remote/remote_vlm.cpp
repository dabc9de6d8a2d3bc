#include "model/remote/remote_vlm.h"

#include "model/remote/coordinate_logprobs.h"
#include "model/remote/family_resize.h"
#include "model/remote/json_text.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>

#include "deskpilot/build_info.h"
#include "model/remote/http.h"
#include "model/remote/messages.h"
#include "model/remote/sse.h"
#include "model/remote/text.h"

namespace deskpilot::model {

namespace {

using Clock = std::chrono::steady_clock;
using remote::HttpOutcome;
using remote::lower;
using remote::trim;
using std::chrono::milliseconds;

std::string seconds_text(milliseconds ms) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms.count()) / 1000.0);
    return buf;
}

const char* reason_phrase(long status) {
    switch (status) {
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 413:
            return "Payload Too Large";
        case 422:
            return "Unprocessable Entity";
        case 429:
            return "Too Many Requests";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 502:
            return "Bad Gateway";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Gateway Timeout";
        default:
            return "";
    }
}

std::string status_text(long status) {
    std::string out = "HTTP " + std::to_string(status);
    if (const char* reason = reason_phrase(status); *reason) out += std::string(" ") + reason;
    return out;
}

bool is_event_stream(std::string_view content_type) {
    return lower(content_type).rfind("text/event-stream", 0) == 0;
}

// "the server said: …" or nothing when it said nothing.
std::string said(std::string_view body) {
    const std::string message = remote::server_message(body);
    return message.empty() ? std::string() : ": " + message;
}

bool wait_unless_cancelled(milliseconds delay, const CancelToken& cancel) {
    const auto deadline = Clock::now() + delay;
    while (Clock::now() < deadline) {
        if (cancel.cancelled()) return false;
        std::this_thread::sleep_for(
            std::min<Clock::duration>(remote::kHttpPollInterval, deadline - Clock::now()));
    }
    return !cancel.cancelled();
}

bool is_sensitive_header(std::string_view name) {
    const std::string n = lower(name);
    for (const char* word : {"auth", "key", "token", "secret", "cookie", "password"})
        if (n.find(word) != std::string::npos) return true;
    return false;
}

// Ollama resolves "name" to "name:latest".
bool same_model(const std::string& listed, const std::string& wanted) {
    return listed == wanted || listed == wanted + ":latest" || wanted == listed + ":latest";
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
    return out;
}

const CancelToken& never_cancelled() {
    static const CancelToken token;
    return token;
}

}  // namespace

struct RemoteVlm::Attempt {
    enum Kind { done, cancelled, retry, fatal, fallback } kind = done;
    std::string message;
    std::optional<milliseconds> retry_after;
    long status = 0;
};

struct RemoteVlm::StreamState {
    std::string text;
    std::string finish_reason;
    int prompt_tokens = 0;
    int completion_tokens = 0;
    std::optional<Clock::time_point> first_text;
    bool done = false;         // [DONE] seen
    std::string bad_event;     // an event that was not JSON
    std::string stream_error;  // an error event's message
};

namespace remote {

std::pair<std::string, std::string> parse_header_option(std::string_view text) {
    const auto colon = text.find(':');
    const std::string name =
        trim(text.substr(0, colon == std::string_view::npos ? text.size() : colon));
    if (colon == std::string_view::npos || name.empty()) {
        // Show only the first word: the rest may be a secret value typed without its colon.
        const std::string word = trim(text).substr(0, trim(text).find_first_of(" \t"));
        throw ModelError("header '" + word.substr(0, 40) + "…': expected 'Name: value'");
    }
    const std::string value = trim(text.substr(colon + 1));
    return {name, value};
}

}  // namespace remote

RemoteVlm::RemoteVlm(RemoteConfig config) : config_(std::move(config)), encoder_(config_.image) {
    endpoint_ = remote::parse_endpoint(config_.endpoint);
    if (!endpoint_.password.empty()) secrets_.push_back(endpoint_.password);

    if (!config_.api_key_env.empty()) {
        const std::string& var = config_.api_key_env;
        const char* value = std::getenv(var.c_str());
        if (value == nullptr)
            throw ModelError("--api-key-env " + var + ": the environment variable " + var +
                             " is not set");
        api_key_ = trim(value);
        if (api_key_.empty())
            throw ModelError("--api-key-env " + var + ": the environment variable " + var +
                             " is empty");
        if (std::any_of(api_key_.begin(), api_key_.end(),
                        [](unsigned char c) { return c < 0x20 || c == 0x7f; }))
            throw ModelError("--api-key-env " + var + ": the key in " + var +
                             " contains a line break or control character");
        secrets_.push_back(api_key_);
    }

    static constexpr std::string_view kTokenChars = "!#$%&'*+-.^_`|~";
    for (const auto& [name, value] : config_.headers) {
        const bool token =
            !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
                return std::isalnum(c) ||
                       kTokenChars.find(static_cast<char>(c)) != std::string_view::npos;
            });
        if (!token) throw ModelError("header '" + name + "': not a valid header name");
        if (value.find_first_of("\r\n") != std::string::npos)
            throw ModelError("header '" + name + "': its value contains a line break");
        if (!api_key_.empty() && lower(name) == "authorization")
            throw ModelError("header 'Authorization' conflicts with --api-key-env " +
                             config_.api_key_env + ", which sets it");
        if (is_sensitive_header(name)) secrets_.push_back(value);
    }
    if (config_.image.jpeg_quality < 0 || config_.image.jpeg_quality > 100)
        throw ModelError("JPEG quality " + std::to_string(config_.image.jpeg_quality) +
                         ": must be 0-100");
}

void RemoteVlm::prepare_image(const vision::Frame& frame, const std::string& family) {
    try {
        encoder_.data_url(frame, remote::resize_params_for_family(family));
    } catch (const std::exception&) {
        // Only a hint: the real request reports the problem.
    }
}

std::string RemoteVlm::describe() const {
    return "remote " + (config_.model.empty() ? std::string("(no model)") : config_.model) + " @ " +
           endpoint_.host +
           (config_.coordinate_window > 0
                ? ", coordinate window " + std::to_string(config_.coordinate_window)
                : std::string());
}

ModelError RemoteVlm::fail(const std::string& message) const {
    return ModelError(remote::redact(message, secrets_));
}

void RemoteVlm::note(const std::string& message) const {
    if (config_.log) config_.log(remote::redact(message, secrets_));
}

std::vector<std::string> RemoteVlm::request_headers(bool json_body, bool stream) const {
    std::vector<std::string> headers;
    if (json_body) headers.emplace_back("Content-Type: application/json");
    headers.emplace_back(stream ? "Accept: text/event-stream" : "Accept: application/json");
    headers.emplace_back(std::string("User-Agent: deskpilot/") + build::kVersion);
    if (!api_key_.empty()) headers.push_back("Authorization: Bearer " + api_key_);
    for (const auto& [name, value] : config_.headers) headers.push_back(name + ": " + value);
    return headers;
}

namespace {

// What a 401/403 means, with or without a key.
std::string auth_message(long status, const std::string& where, std::string_view body,
                         const std::string& key_env) {
    if (!key_env.empty())
        return "the endpoint " + where + " rejected the API key from $" + key_env + " (" +
               status_text(status) + ")" + said(body);
    return "the endpoint " + where + " refused the request (" + status_text(status) + ")" +
           said(body) +
           "; it probably needs an API key: pass --api-key-env VAR naming an environment variable "
           "that holds it";
}

}  // namespace

RemoteVlm::Attempt RemoteVlm::attempt_chat(nlohmann::json& body, bool stream, int images,
                                           int window, const TextCallback& on_text,
                                           const CancelToken& cancel, StreamState& st) const {
    struct StreamAbort {};
    st = StreamState{};
    remote::set_streaming(body, stream);
    const std::string where = endpoint_.display_url("/chat/completions");

    remote::HttpRequest request;
    request.method = "POST";
    request.url = endpoint_.url("/chat/completions");
    request.headers = request_headers(true, stream);
    // Invalid UTF-8 in a text part becomes U+FFFD rather than a failed step.
    request.body =
        remote::to_json_text(body);  // byte-identical to dump(), without escaping 3 MB of base64
    request.connect_timeout = config_.connect_timeout;
    request.idle_timeout = stream ? config_.idle_timeout : milliseconds(0);
    request.overall_timeout = config_.overall_timeout;
    request.max_body_bytes = config_.max_answer_bytes;

    auto emit = [&](std::string_view chunk) {
        if (chunk.empty()) return;
        if (!st.first_text) st.first_text = Clock::now();
        st.text += chunk;
        if (on_text) on_text(chunk);
    };
    // With a coordinate window, each choice's text goes through the readout, token by token,
    // where the server sent the tokens' logprobs and they spell the text.
    remote::TextCoordinateReadout readout(window);
    bool told = false;
    auto emit_choice = [&](const nlohmann::json& choice, const std::string& content) {
        if (window <= 0) return emit(content);
        const auto tokens = remote::token_logprobs(choice);
        std::string spelled;
        if (tokens)
            for (const auto& t : *tokens) spelled += t.token;
        if (tokens && spelled == content) {
            for (const auto& t : *tokens) emit(readout.feed(t));
            return;
        }
        if (content.empty()) return;
        if (!told)
            note("the server at " + endpoint_.display +
                 (tokens ? std::string(" sent logprobs that do not spell its text")
                         : std::string(" sent no logprobs")) +
                 "; its coordinates are left as written (--coordinate-window needs "
                 "\"logprobs\" and \"top_logprobs\")");
        told = true;
        emit(readout.pass(content));
    };
    auto read_usage = [&](const nlohmann::json& j) {
        const auto usage = j.find("usage");
        if (usage == j.end() || !usage->is_object()) return;
        st.prompt_tokens = usage->value("prompt_tokens", st.prompt_tokens);
        st.completion_tokens = usage->value("completion_tokens", st.completion_tokens);
    };
    remote::SseParser parser([&](std::string_view data) {
        if (st.done) return;
        if (trim(data) == "[DONE]") {
            st.done = true;
            return;
        }
        const auto j = nlohmann::json::parse(data, nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
            st.bad_event = std::string(data);
            throw StreamAbort{};
        }
        if (const auto e = j.find("error"); e != j.end() && !e->is_null()) {
            st.stream_error = remote::server_message(data);
            throw StreamAbort{};
        }
        read_usage(j);
        const auto choices = j.find("choices");
        if (choices == j.end() || !choices->is_array() || choices->empty()) return;
        const auto& choice = (*choices)[0];
        if (const auto delta = choice.find("delta"); delta != choice.end() && delta->is_object())
            if (const auto content = delta->find("content");
                content != delta->end() && content->is_string())
                emit_choice(choice, content->get_ref<const std::string&>());
        if (const auto reason = choice.find("finish_reason");
            reason != choice.end() && reason->is_string())
            st.finish_reason = reason->get<std::string>();
    });
    bool sse = false;
    auto sink = [&](const remote::HttpHead& head, std::string_view bytes) {
        if (head.status != 200 || !is_event_stream(head.content_type)) return;
        sse = true;
        parser.feed(bytes);
    };

    Attempt a;
    auto fatal = [&](std::string message) {
        a.kind = Attempt::fatal;
        a.message = std::move(message);
        return a;
    };
    auto retry = [&](std::string message) {
        a.kind = Attempt::retry;
        a.message = std::move(message);
        return a;
    };

    remote::HttpResult r;
    try {
        r = remote::perform(request, sink, cancel);
        if (r.outcome == HttpOutcome::completed && sse) parser.finish();
    } catch (const StreamAbort&) {
        if (!st.bad_event.empty())
            return fatal("the stream from " + where + " carried an event that is not JSON: " +
                         remote::first_bytes(st.bad_event));
        std::string message = "the server at " + where +
                              " reported an error in the middle of its answer: " + st.stream_error;
        if (const auto hint = remote::bad_request_hint(st.stream_error, images))
            message += "\nhint: " + *hint;
        return fatal(message);
    }
    a.status = r.head.status;
    const std::string received = std::to_string(st.text.size()) + " characters of text";

    switch (r.outcome) {
        case HttpOutcome::cancelled:
            emit(readout.pass(""));  // a number held back stays in the text
            a.kind = Attempt::cancelled;
            return a;
        case HttpOutcome::idle_timeout:
            if (!r.response_started)
                return fatal("the server at " + where + " sent nothing for " +
                             seconds_text(config_.idle_timeout) +
                             " (idle timeout); it may be overloaded or still loading the model");
            return fatal("the stream from " + where + " stalled: no data for " +
                         seconds_text(config_.idle_timeout) + " (idle timeout) after " + received);
        case HttpOutcome::overall_timeout:
            return fatal("the answer from " + where + " took longer than " +
                         seconds_text(config_.overall_timeout) + " (overall timeout) after " +
                         received);
        case HttpOutcome::transport_error:
            if (st.first_text)  // text already went to on_text: trying again would repeat it
                return fatal("the stream from " + where +
                             " broke off before the answer was complete (" + r.transport_error +
                             ") after " + received + "; it began: " + remote::first_bytes(r.body));
            if (!r.response_started)
                return retry("cannot reach " + where + ": " + r.transport_error);
            return retry("the connection to " + where + " failed mid-answer: " + r.transport_error);
        case HttpOutcome::too_large:
            return fatal("the answer from " + where + " is larger than " +
                         std::to_string(config_.max_answer_bytes) +
                         " bytes; it began: " + remote::first_bytes(r.body));
        case HttpOutcome::completed:
            break;
    }

    const long status = r.head.status;
    if (status == 200) {
        if (sse) {
            if (!st.done && st.finish_reason.empty())
                return fatal("the stream from " + where +
                             " ended before the answer was complete (no finish_reason and no "
                             "[DONE]) after " +
                             received + "; it began: " + remote::first_bytes(r.body));
            emit(readout.finish());
            return a;
        }
        // A plain JSON answer: we asked for one, or the server ignored "stream": true.
        if (r.body.find_first_not_of(" \t\r\n") == std::string::npos)
            return fatal("the answer from " + where + " was empty (HTTP 200 with no body)");
        const auto j = nlohmann::json::parse(r.body, nullptr, false);
        if (j.is_discarded())
            return fatal("the answer from " + where + " is not JSON (Content-Type: " +
                         (r.head.content_type.empty() ? std::string("none") : r.head.content_type) +
                         "): " + remote::first_bytes(r.body));
        if (j.is_object() && j.contains("error") && !j["error"].is_null())
            return fatal("the server at " + where + " answered with an error" + said(r.body));
        const nlohmann::json* message = nullptr;
        if (j.is_object() && j.contains("choices") && j["choices"].is_array() &&
            !j["choices"].empty() && j["choices"][0].is_object() &&
            j["choices"][0].contains("message") && j["choices"][0]["message"].is_object())
            message = &j["choices"][0]["message"];
        if (!message)
            return fatal("the answer from " + where +
                         " has no choices[0].message: " + remote::first_bytes(r.body));
        const auto& content =
            message->contains("content") ? (*message)["content"] : nlohmann::json();
        if (content.is_string()) {
            emit_choice(j["choices"][0], content.get_ref<const std::string&>());
            emit(readout.finish());
        } else if (content.is_array()) {  // content parts
            for (const auto& part : content)
                if (part.is_object() && part.value("type", "") == "text" && part.contains("text") &&
                    part["text"].is_string())
                    emit(part["text"].get_ref<const std::string&>());
        } else if (!content.is_null()) {
            return fatal("the answer from " + where +
                         " has a choices[0].message.content that is not text: " +
                         remote::first_bytes(r.body));
        }
        const auto& choice = j["choices"][0];
        if (choice.contains("finish_reason") && choice["finish_reason"].is_string())
            st.finish_reason = choice["finish_reason"].get<std::string>();
        read_usage(j);
        return a;
    }

    const std::string message = remote::server_message(r.body);
    if (stream && (status == 400 || status == 422 || status == 501) &&
        lower(message).find("stream") != std::string::npos) {
        a.kind = Attempt::fallback;
        a.message = status_text(status) + (message.empty() ? "" : ": " + message);
        return a;
    }
    if (status == 429 || status >= 500) {
        if (!r.head.retry_after.empty())
            a.retry_after = remote::parse_retry_after(r.head.retry_after);
        if (status == 429)
            return retry("the server at " + where + " is busy (" + status_text(status) + ")" +
                         said(r.body));
        return retry(status_text(status) + " from " + where + said(r.body));
    }
    if (status == 401 || status == 403)
        return fatal(auth_message(status, where, r.body, config_.api_key_env));
    if (status == 404) return fatal(not_found_message(message, cancel));
    if (status == 400 || status == 413 || status == 422) {
        std::string text = "the endpoint " + where + " rejected the request (" +
                           status_text(status) + ")" + said(r.body);
        if (const auto hint = remote::bad_request_hint(message, images)) text += "\nhint: " + *hint;
        return fatal(text);
    }
    return fatal(status_text(status) + " from " + where + said(r.body));
}

std::string RemoteVlm::not_found_message(std::string_view server_text,
                                         const CancelToken& cancel) const {
    const std::string where = endpoint_.display_url("/chat/completions");
    const std::string said_text =
        server_text.empty() ? std::string() : ": " + std::string(server_text);
    std::vector<std::string> models;
    try {
        models = list_models(cancel);
    } catch (const ModelError& e) {
        return "HTTP 404 Not Found from " + where + said_text + "; the model name '" +
               config_.model +
               "' or the endpoint may be wrong (listing the server's models failed too: " +
               e.what() + ")";
    }
    if (std::any_of(models.begin(), models.end(),
                    [&](const auto& m) { return same_model(m, config_.model); }))
        return "HTTP 404 Not Found from " + where + " although the server lists model '" +
               config_.model + "'" + said_text +
               "; check the endpoint's path (the OpenAI layout, e.g. http://host:8000/v1)";
    return "model '" + config_.model + "' not found at " + endpoint_.display +
           "; the server offers: " + (models.empty() ? std::string("no models") : join(models));
}

RemoteVlm::Attempt RemoteVlm::attempt_models(const CancelToken& cancel,
                                             std::vector<std::string>& out) const {
    const std::string where = endpoint_.display_url("/models");
    remote::HttpRequest request;
    request.url = endpoint_.url("/models");
    request.headers = request_headers(false, false);
    request.connect_timeout = config_.connect_timeout;
    request.overall_timeout = std::min(config_.overall_timeout, milliseconds(60'000));
    request.max_body_bytes = config_.max_answer_bytes;
    const remote::HttpResult r = remote::perform(request, {}, cancel);

    Attempt a;
    a.status = r.head.status;
    auto fatal = [&](std::string message) {
        a.kind = Attempt::fatal;
        a.message = std::move(message);
        return a;
    };
    switch (r.outcome) {
        case HttpOutcome::cancelled:
            a.kind = Attempt::cancelled;
            return a;
        case HttpOutcome::idle_timeout:
        case HttpOutcome::overall_timeout:
            return fatal("the server at " + where + " did not answer within " +
                         seconds_text(request.overall_timeout));
        case HttpOutcome::transport_error:
            a.kind = Attempt::retry;
            a.message = "cannot reach " + where + ": " + r.transport_error;
            return a;
        case HttpOutcome::too_large:
            return fatal("the model list from " + where + " is larger than " +
                         std::to_string(config_.max_answer_bytes) + " bytes");
        case HttpOutcome::completed:
            break;
    }
    const long status = r.head.status;
    if (status == 429 || status >= 500) {
        if (!r.head.retry_after.empty())
            a.retry_after = remote::parse_retry_after(r.head.retry_after);
        a.kind = Attempt::retry;
        a.message = status_text(status) + " from " + where + said(r.body);
        return a;
    }
    if (status == 401 || status == 403)
        return fatal(auth_message(status, where, r.body, config_.api_key_env));
    if (status == 404)
        return fatal(where + " was not found (HTTP 404)" + said(r.body) +
                     "; is this an OpenAI-compatible endpoint (e.g. http://host:8000/v1)?");
    if (status != 200) return fatal(status_text(status) + " from " + where + said(r.body));

    const auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_discarded())
        return fatal("the model list from " + where +
                     " is not JSON: " + remote::first_bytes(r.body));
    // OpenAI: {"data":[{"id":…}]}; Ollama's native /api/tags: {"models":[{"name":…}]}.
    const nlohmann::json* list = nullptr;
    if (j.is_object() && j.contains("data") && j["data"].is_array()) list = &j["data"];
    if (!list && j.is_object() && j.contains("models") && j["models"].is_array())
        list = &j["models"];
    if (!list)
        return fatal("the model list from " + where +
                     " has no \"data\" array: " + remote::first_bytes(r.body));
    out.clear();
    for (const auto& item : *list) {
        if (item.is_string()) {
            out.push_back(item.get<std::string>());
            continue;
        }
        if (!item.is_object()) continue;
        for (const char* key : {"id", "name", "model"}) {
            if (item.contains(key) && item[key].is_string()) {
                out.push_back(item[key].get<std::string>());
                break;
            }
        }
    }
    return a;
}

namespace {

// Runs `once` until it is done, cancelled or fatal, waiting between attempts as the policy and
// the server's Retry-After say. `fail` turns a message into the exception to throw.
template <typename Attempt, typename Once, typename Note, typename Fail>
Attempt with_retries(const remote::RetryPolicy& policy, std::mt19937_64& rng,
                     const CancelToken& cancel, Once&& once, Note&& note, Fail&& fail) {
    for (int retry = 0;; ++retry) {
        Attempt a = once();
        if (a.kind != Attempt::retry && a.kind != Attempt::fatal) return a;
        if (a.kind == Attempt::fatal) throw fail(a.message);
        const int attempts = retry + 1;
        if (retry >= policy.max_retries) {
            if (attempts > 1)
                a.message += " (gave up after " + std::to_string(attempts) + " attempts)";
            throw fail(a.message);
        }
        milliseconds delay = remote::backoff_delay(policy, retry, rng);
        if (a.retry_after) {
            if (*a.retry_after > policy.max_retry_after)
                throw fail(a.message + "; the server asks to retry after " +
                           seconds_text(*a.retry_after) + ", longer than the " +
                           seconds_text(policy.max_retry_after) + " Deskpilot waits");
            delay = *a.retry_after;
        }
        note(a.message + "; retrying in " + seconds_text(delay) + " (retry " +
             std::to_string(retry + 1) + " of " + std::to_string(policy.max_retries) + ")");
        if (!wait_unless_cancelled(delay, cancel)) {
            a.kind = Attempt::cancelled;
            return a;
        }
    }
}

}  // namespace

std::vector<std::string> RemoteVlm::list_models(const CancelToken& cancel) const {
    std::mt19937_64 rng(config_.jitter_seed ? *config_.jitter_seed + calls_++
                                            : std::random_device{}());
    std::vector<std::string> models;
    const Attempt a = with_retries<Attempt>(
        config_.retry, rng, cancel, [&] { return attempt_models(cancel, models); },
        [&](const std::string& m) { note(m); }, [&](const std::string& m) { return fail(m); });
    if (a.kind == Attempt::cancelled)
        throw fail("listing the models of " + endpoint_.display + " was cancelled");
    return models;
}

std::vector<std::string> RemoteVlm::list_models() const {
    return list_models(never_cancelled());
}

bool RemoteVlm::check_model() const {
    std::vector<std::string> models;
    std::mt19937_64 rng(config_.jitter_seed ? *config_.jitter_seed + calls_++
                                            : std::random_device{}());
    const auto& cancel = never_cancelled();
    long last_status = 0;
    try {
        with_retries<Attempt>(
            config_.retry, rng, cancel,
            [&] {
                Attempt a = attempt_models(cancel, models);
                last_status = a.status;
                return a;
            },
            [&](const std::string& m) { note(m); }, [&](const std::string& m) { return fail(m); });
    } catch (const ModelError&) {
        if (last_status == 404) return false;  // no model list here; the first request will tell
        throw;
    }
    if (config_.model.empty())
        throw fail("no model name given; the server at " + endpoint_.display +
                   " offers: " + join(models));
    if (std::any_of(models.begin(), models.end(),
                    [&](const auto& m) { return same_model(m, config_.model); }))
        return true;
    throw fail(
        "model '" + config_.model + "' not found at " + endpoint_.display +
        "; the server offers: " + (models.empty() ? std::string("no models") : join(models)));
}

Response RemoteVlm::generate(const planner::Request& request, const GenerateOptions& options,
                             const TextCallback& on_text, const CancelToken& cancel) {
    const auto start = Clock::now();
    if (config_.model.empty())
        throw fail("no model name given for " + endpoint_.display +
                   " (see `deskpilot models --endpoint " + endpoint_.display + "`)");
    remote::ChatBody chat = remote::build_chat_body(request, options, config_.model, encoder_);
    // The coordinate readout reads greedy answers only, as the engine's does.
    const int window = options.temperature == 0.0 ? config_.coordinate_window : 0;
    if (window > 0) {
        chat.json["logprobs"] = true;
        chat.json["top_logprobs"] = remote::top_logprobs_for(window);
    }
    std::mt19937_64 rng(config_.jitter_seed ? *config_.jitter_seed + calls_++
                                            : std::random_device{}());
    bool stream = streaming();
    StreamState st;
    for (;;) {
        const Attempt a = with_retries<Attempt>(
            config_.retry, rng, cancel,
            [&] {
                return attempt_chat(chat.json, stream, chat.images, window, on_text, cancel, st);
            },
            [&](const std::string& m) { note(m); }, [&](const std::string& m) { return fail(m); });
        if (a.kind == Attempt::fallback) {
            stream = false;
            stream_refused_ = true;
            note("the server at " + endpoint_.display + " refused a streamed request (" +
                 a.message + "); asking again without streaming, and not streaming from now on");
            continue;
        }
        Response response;
        response.text = std::move(st.text);
        response.finish_reason = a.kind == Attempt::cancelled ? "cancelled"
                                 : st.finish_reason.empty()   ? "stop"
                                                              : st.finish_reason;
        response.prompt_tokens = st.prompt_tokens;
        response.completion_tokens = st.completion_tokens;
        const auto end = Clock::now();
        const auto ms = [&](Clock::time_point t) {
            return std::chrono::duration<double, std::milli>(t - start).count();
        };
        response.total_ms = ms(end);
        response.time_to_first_token_ms = ms(st.first_text.value_or(end));
        return response;
    }
}

}  // namespace deskpilot::model
