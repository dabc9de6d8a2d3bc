#include "model/remote/http.h"
#include "model/remote/text.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <mutex>

namespace deskpilot::model::remote {

namespace {

using Clock = std::chrono::steady_clock;

void global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
    const BodySink* sink = nullptr;
    HttpResult* result = nullptr;
    CURL* easy = nullptr;
    Clock::time_point last_byte;
    std::exception_ptr error;
    std::size_t max_body = 0;
    bool too_large = false;
    bool head_complete = false;
};

size_t on_header(char* data, size_t size, size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const std::string_view line(data, size * count);
    t->last_byte = Clock::now();
    if (line.rfind("HTTP/", 0) == 0) {  // a new status line (after 100 Continue too)
        t->result->response_started = true;
        t->result->head = {};
        t->head_complete = false;
        if (const auto sp = line.find(' '); sp != std::string_view::npos)
            t->result->head.status =
                std::strtol(std::string(line.substr(sp + 1, 3)).c_str(), nullptr, 10);
        return size * count;
    }
    if (const auto colon = line.find(':'); colon != std::string_view::npos) {
        const std::string name = lower(trim(line.substr(0, colon)));
        const std::string value = trim(line.substr(colon + 1));
        if (name == "content-type") t->result->head.content_type = value;
        if (name == "retry-after") t->result->head.retry_after = value;
    }
    return size * count;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const std::string_view bytes(data, size * count);
    t->last_byte = Clock::now();
    if (t->result->body.size() + bytes.size() > t->max_body) {
        t->result->body.append(
            bytes.substr(0, t->max_body - t->result->body.size()));  // for messages
        t->too_large = true;
        return 0;  // aborts the transfer
    }
    t->result->body.append(bytes);
    if (*t->sink) {
        try {
            (*t->sink)(t->result->head, bytes);
        } catch (...) {
            t->error = std::current_exception();
            return 0;  // aborts the transfer with CURLE_WRITE_ERROR
        }
    }
    return size * count;
}

struct EasyDeleter {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct MultiDeleter {
    void operator()(CURLM* m) const { curl_multi_cleanup(m); }
};
struct ListDeleter {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

HttpResult perform(const HttpRequest& request, const BodySink& sink, const CancelToken& cancel) {
    global_init();
    HttpResult result;
    const auto start = Clock::now();
    auto finish = [&](HttpOutcome outcome) {
        result.outcome = outcome;
        result.elapsed =
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
        return result;
    };
    if (cancel.cancelled()) return finish(HttpOutcome::cancelled);

    std::unique_ptr<CURL, EasyDeleter> easy(curl_easy_init());
    std::unique_ptr<CURLM, MultiDeleter> multi(curl_multi_init());
    if (!easy || !multi) {
        result.transport_error = "libcurl could not start a transfer (out of memory)";
        return finish(HttpOutcome::transport_error);
    }

    std::unique_ptr<curl_slist, ListDeleter> headers;
    for (const auto& h : request.headers)
        headers.reset(curl_slist_append(headers.release(), h.c_str()));
    // Large bodies (screenshots) would otherwise wait for "100 Continue", which some servers never
    // send.
    headers.reset(curl_slist_append(headers.release(), "Expect:"));

    Transfer t;
    t.sink = &sink;
    t.result = &result;
    t.easy = easy.get();
    t.last_byte = start;
    t.max_body = request.max_body_bytes;

    char error_buffer[CURL_ERROR_SIZE] = {0};
    CURL* e = easy.get();
    curl_easy_setopt(e, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(request.connect_timeout.count()));
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    if (request.method == "POST") {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, request.body.data());
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(request.body.size()));
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }

    curl_multi_add_handle(multi.get(), e);
    HttpOutcome outcome = HttpOutcome::completed;
    for (;;) {
        int running = 0;
        const CURLMcode mc = curl_multi_perform(multi.get(), &running);
        if (mc != CURLM_OK) {
            result.transport_error = curl_multi_strerror(mc);
            outcome = HttpOutcome::transport_error;
            break;
        }
        if (running == 0) break;
        const auto now = Clock::now();
        if (cancel.cancelled()) {
            outcome = HttpOutcome::cancelled;
            break;
        }
        if (request.idle_timeout.count() > 0 && now - t.last_byte > request.idle_timeout) {
            outcome = HttpOutcome::idle_timeout;
            break;
        }
        if (request.overall_timeout.count() > 0 && now - start > request.overall_timeout) {
            outcome = HttpOutcome::overall_timeout;
            break;
        }
        curl_multi_poll(multi.get(), nullptr, 0, static_cast<int>(kHttpPollInterval.count()),
                        nullptr);
    }

    if (outcome == HttpOutcome::completed) {
        int queued = 0;
        CURLcode code = CURLE_OK;
        while (CURLMsg* msg = curl_multi_info_read(multi.get(), &queued))
            if (msg->msg == CURLMSG_DONE) code = msg->data.result;
        if (t.error) {
            curl_multi_remove_handle(multi.get(), e);
            std::rethrow_exception(t.error);
        }
        if (t.too_large) {
            outcome = HttpOutcome::too_large;
        } else if (code != CURLE_OK) {
            outcome = HttpOutcome::transport_error;
            result.transport_error = error_buffer[0] ? error_buffer : curl_easy_strerror(code);
        }
    }
    curl_multi_remove_handle(multi.get(), e);
    return finish(outcome);
}

}  // namespace deskpilot::model::remote
