#include "openai_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace deskpilot::testing {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    return out;
}

std::string trim(std::string_view s) {
    const auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return {};
    const auto last = s.find_last_not_of(" \t\r\n");
    return std::string(s.substr(first, last - first + 1));
}

const char* reason(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 429:
            return "Too Many Requests";
        case 500:
            return "Internal Server Error";
        case 502:
            return "Bad Gateway";
        case 503:
            return "Service Unavailable";
        default:
            return "Status";
    }
}

bool send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

std::string chunk(std::string_view data) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    return std::string(size) + std::string(data) + "\r\n";
}

// Pieces of about `size` bytes that never split a UTF-8 sequence.
std::vector<std::string> cut(const std::string& text, std::size_t size = 6) {
    std::vector<std::string> pieces;
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t end = std::min(text.size(), i + size);
        while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
        pieces.push_back(text.substr(i, end - i));
        i = end;
    }
    return pieces;
}

std::string error_body(const std::string& message, const std::string& type, int code) {
    // vLLM's layout: the OpenAI error object plus "object": "error".
    return nlohmann::json{{"object", "error"},
                          {"message", message},
                          {"type", type},
                          {"param", nullptr},
                          {"code", code}}
        .dump();
}

}  // namespace

// ---- RecordedRequest -------------------------------------------------------------------------

std::string RecordedRequest::header(const std::string& lower_name) const {
    const auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
}

bool RecordedRequest::wants_stream() const {
    return json.is_object() && json.contains("stream") && json["stream"].is_boolean() &&
           json["stream"].get<bool>();
}

std::vector<std::string> RecordedRequest::image_urls() const {
    std::vector<std::string> urls;
    if (!json.is_object() || !json.contains("messages") || !json["messages"].is_array())
        return urls;
    for (const auto& m : json["messages"]) {
        if (!m.is_object() || !m.contains("content") || !m["content"].is_array()) continue;
        for (const auto& part : m["content"]) {
            if (part.is_object() && part.value("type", "") == "image_url" &&
                part.contains("image_url") && part["image_url"].is_object() &&
                part["image_url"].contains("url") && part["image_url"]["url"].is_string())
                urls.push_back(part["image_url"]["url"].get<std::string>());
        }
    }
    return urls;
}

std::string RecordedRequest::all_text() const {
    std::string out;
    auto add = [&](const std::string& t) { out += (out.empty() ? "" : "\n") + t; };
    if (!json.is_object() || !json.contains("messages") || !json["messages"].is_array()) return out;
    for (const auto& m : json["messages"]) {
        if (!m.is_object() || !m.contains("content")) continue;
        const auto& c = m["content"];
        if (c.is_string()) add(c.get<std::string>());
        if (c.is_array())
            for (const auto& part : c)
                if (part.is_object() && part.value("type", "") == "text" && part.contains("text") &&
                    part["text"].is_string())
                    add(part["text"].get<std::string>());
    }
    return out;
}

// ---- ScriptedReply ---------------------------------------------------------------------------

ScriptedReply ScriptedReply::answer(std::string text) {
    ScriptedReply r;
    r.text = std::move(text);
    return r;
}

ScriptedReply ScriptedReply::drip(std::vector<std::string> pieces, milliseconds gap) {
    ScriptedReply r;
    for (const auto& p : pieces) r.text += p;
    r.chunks = std::move(pieces);
    r.chunk_delay = gap;
    return r;
}

ScriptedReply ScriptedReply::error(int status, std::string message, std::string type) {
    if (type.empty())
        type = status == 400 ? "BadRequestError" : status == 404 ? "NotFoundError" : "Error";
    return raw(status, "application/json", error_body(message, type, status));
}

ScriptedReply ScriptedReply::too_many_requests(std::string retry_after) {
    ScriptedReply r = error(429, "Too many requests, slow down", "RateLimitError");
    r.headers.emplace_back("Retry-After", std::move(retry_after));
    return r;
}

ScriptedReply ScriptedReply::raw(int status, std::string content_type, std::string body) {
    ScriptedReply r;
    r.status = status;
    r.content_type = std::move(content_type);
    r.raw_body = std::move(body);
    return r;
}

ScriptedReply ScriptedReply::truncated(std::vector<std::string> pieces, int after) {
    ScriptedReply r = drip(std::move(pieces), milliseconds(0));
    r.truncate_after = after;
    return r;
}

ScriptedReply ScriptedReply::disconnect() {
    ScriptedReply r;
    r.hang_up = true;
    return r;
}

// ---- OpenAiServer ----------------------------------------------------------------------------

OpenAiServer::OpenAiServer() {
    default_reply_ =
        ScriptedReply::answer("Thought: Nothing to do.\nAction: finished(content='done')");
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0)
        throw std::runtime_error(std::string("openai test server: socket: ") +
                                 std::strerror(errno));
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 64) != 0) {
        const std::string why = std::strerror(errno);
        ::close(listen_fd_);
        throw std::runtime_error("openai test server: cannot listen on 127.0.0.1: " + why);
    }
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
}

OpenAiServer::~OpenAiServer() {
    stopping_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    std::vector<std::thread> workers;
    {
        std::lock_guard lock(mutex_);
        for (const int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
        workers.swap(workers_);
    }
    for (auto& w : workers) w.join();
    ::close(listen_fd_);
}

std::string OpenAiServer::root_url() const {
    return "http://127.0.0.1:" + std::to_string(port_);
}
std::string OpenAiServer::base_url() const {
    return root_url() + "/v1";
}

void OpenAiServer::set_models(std::vector<std::string> models, bool check_model) {
    std::lock_guard lock(mutex_);
    models_ = std::move(models);
    check_model_ = check_model;
}
void OpenAiServer::set_api_key(std::string key) {
    std::lock_guard lock(mutex_);
    api_key_ = std::move(key);
}
void OpenAiServer::set_stream_support(StreamSupport support) {
    std::lock_guard lock(mutex_);
    stream_support_ = support;
}
void OpenAiServer::set_image_limit(int images) {
    std::lock_guard lock(mutex_);
    image_limit_ = images;
}
void OpenAiServer::set_models_reply(std::optional<ScriptedReply> reply) {
    std::lock_guard lock(mutex_);
    models_reply_ = std::move(reply);
}
void OpenAiServer::push(ScriptedReply reply) {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(reply));
}
void OpenAiServer::set_handler(Handler handler) {
    std::lock_guard lock(mutex_);
    handler_ = std::move(handler);
}
void OpenAiServer::set_default(ScriptedReply reply) {
    std::lock_guard lock(mutex_);
    default_reply_ = std::move(reply);
}

std::vector<RecordedRequest> OpenAiServer::requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
}

std::vector<RecordedRequest> OpenAiServer::chat_requests() const {
    std::vector<RecordedRequest> out;
    for (auto& r : requests())
        if (r.method == "POST" && r.path.ends_with("/chat/completions"))
            out.push_back(std::move(r));
    return out;
}

bool OpenAiServer::wait_for_requests(std::size_t count, milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    return arrived_.wait_for(lock, timeout, [&] { return requests_.size() >= count; });
}

bool OpenAiServer::pause(milliseconds duration) const {
    const auto deadline = Clock::now() + duration;
    while (Clock::now() < deadline) {
        if (stopping_) return false;
        std::this_thread::sleep_for(
            std::min<Clock::duration>(milliseconds(5), deadline - Clock::now()));
    }
    return !stopping_;
}

void OpenAiServer::accept_loop() {
    while (!stopping_) {
        pollfd p{listen_fd_, POLLIN, 0};
        if (::poll(&p, 1, 20) <= 0) continue;
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        std::lock_guard lock(mutex_);
        open_fds_.push_back(fd);
        workers_.emplace_back([this, fd] {
            serve(fd);
            {
                std::lock_guard inner(mutex_);
                open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd),
                                open_fds_.end());
            }
            ::close(fd);
        });
    }
}

void OpenAiServer::serve(int fd) {
    // Read the head, then Content-Length bytes of body.
    std::string data;
    std::size_t head_end = std::string::npos;
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    char buf[65536];
    auto read_more = [&]() -> bool {
        while (!stopping_ && Clock::now() < deadline) {
            pollfd p{fd, POLLIN, 0};
            const int ready = ::poll(&p, 1, 20);
            if (ready < 0 && errno != EINTR) return false;
            if (ready <= 0) continue;
            const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) return false;
            data.append(buf, static_cast<std::size_t>(n));
            return true;
        }
        return false;
    };
    while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
        if (data.size() > (1 << 20) || !read_more()) return;
    }

    RecordedRequest request;
    const std::string head = data.substr(0, head_end);
    std::size_t line_end = head.find("\r\n");
    const std::string request_line = head.substr(0, line_end);
    {
        const auto sp1 = request_line.find(' ');
        const auto sp2 = request_line.find(' ', sp1 + 1);
        if (sp1 == std::string::npos || sp2 == std::string::npos) return;
        request.method = request_line.substr(0, sp1);
        request.path = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
        if (const auto q = request.path.find('?'); q != std::string::npos) request.path.resize(q);
    }
    while (line_end != std::string::npos && line_end < head.size()) {
        const std::size_t start = line_end + 2;
        line_end = head.find("\r\n", start);
        const std::string line = head.substr(
            start, line_end == std::string::npos ? std::string::npos : line_end - start);
        if (const auto colon = line.find(':'); colon != std::string::npos)
            request.headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
    }
    if (lower(request.header("expect")) == "100-continue" &&
        !send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n"))
        return;
    std::size_t length = 0;
    if (const std::string value = request.header("content-length"); !value.empty()) {
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
        if (ec != std::errc() || end != value.data() + value.size() ||
            length > (std::size_t{256} << 20)) {
            send_reply(
                fd, request,
                ScriptedReply::raw(400, "application/json", R"({"detail":"bad Content-Length"})"));
            return;
        }
    }
    data.erase(0, head_end + 4);
    while (data.size() < length)
        if (!read_more()) return;
    request.body = data.substr(0, length);
    request.json = nlohmann::json::parse(request.body, nullptr, false);
    if (request.json.is_discarded()) request.json = nullptr;
    request.received = Clock::now();
    {
        std::lock_guard lock(mutex_);
        requests_.push_back(request);
    }
    arrived_.notify_all();

    // The server's configuration answers first, as a real server would.
    std::string key;
    std::vector<std::string> models;
    bool check_model = false;
    StreamSupport support = StreamSupport::sse;
    int image_limit = -1;
    std::optional<ScriptedReply> models_reply;
    {
        std::lock_guard lock(mutex_);
        key = api_key_;
        models = models_;
        check_model = check_model_;
        support = stream_support_;
        image_limit = image_limit_;
        models_reply = models_reply_;
    }
    if (!key.empty() && request.header("authorization") != "Bearer " + key) {
        send_reply(fd, request,
                   ScriptedReply::raw(401, "application/json", R"({"error":"Unauthorized"})"));
        return;
    }
    if (request.method == "GET" && request.path == "/v1/models") {
        if (models_reply) {
            send_reply(fd, request, *models_reply);
            return;
        }
        nlohmann::json list = {{"object", "list"}, {"data", nlohmann::json::array()}};
        for (const auto& m : models)
            list["data"].push_back(
                {{"id", m}, {"object", "model"}, {"created", 0}, {"owned_by", "deskpilot-test"}});
        send_reply(fd, request, ScriptedReply::raw(200, "application/json", list.dump()));
        return;
    }
    if (request.method != "POST" || request.path != "/v1/chat/completions") {
        send_reply(fd, request,
                   ScriptedReply::raw(404, "application/json", R"({"detail":"Not Found"})"));
        return;
    }
    if (!request.json.is_object()) {
        send_reply(fd, request, ScriptedReply::error(400, "The request body is not valid JSON"));
        return;
    }
    const std::string model = request.json.value("model", "");
    if (check_model && std::find(models.begin(), models.end(), model) == models.end()) {
        send_reply(fd, request,
                   ScriptedReply::error(404, "The model `" + model + "` does not exist."));
        return;
    }
    const int images = static_cast<int>(request.image_urls().size());
    if (image_limit >= 0 && images > image_limit) {
        send_reply(fd, request,
                   ScriptedReply::error(400, "At most " + std::to_string(image_limit) +
                                                 " image(s) may be provided in one prompt."));
        return;
    }
    if (support == StreamSupport::refuse && request.wants_stream()) {
        send_reply(fd, request,
                   ScriptedReply::error(400, "streaming is not supported by this server"));
        return;
    }
    send_reply(fd, request, choose_reply(request));
}

ScriptedReply OpenAiServer::choose_reply(const RecordedRequest& request) {
    Handler handler;
    {
        std::lock_guard lock(mutex_);
        if (!queue_.empty()) {
            ScriptedReply r = std::move(queue_.front());
            queue_.pop_front();
            return r;
        }
        handler = handler_;
        if (!handler) return default_reply_;
    }
    return handler(request);
}

void OpenAiServer::send_reply(int fd, const RecordedRequest& request, const ScriptedReply& reply) {
    if (reply.hang_up) return;
    if (!pause(reply.delay)) return;
    std::string extra;
    for (const auto& [name, value] : reply.headers) extra += name + ": " + value + "\r\n";

    if (reply.raw_body || reply.status != 200) {
        const std::string body = reply.raw_body.value_or("{}");
        const std::string head = "HTTP/1.1 " + std::to_string(reply.status) + " " +
                                 reason(reply.status) + "\r\nContent-Type: " + reply.content_type +
                                 "\r\nContent-Length: " + std::to_string(body.size()) +
                                 "\r\nConnection: close\r\n" + extra + "\r\n";
        if (!send_all(fd, head + body)) ++abandoned_;
        return;
    }

    bool stream = request.wants_stream();
    {
        std::lock_guard lock(mutex_);
        if (stream_support_ != StreamSupport::sse) stream = false;
    }
    const std::string model = request.json.is_object() ? request.json.value("model", "") : "";
    const std::vector<std::string> pieces = reply.chunks.empty() ? cut(reply.text) : reply.chunks;
    const int completion_tokens =
        reply.completion_tokens >= 0 ? reply.completion_tokens : static_cast<int>(pieces.size());
    const nlohmann::json usage = {{"prompt_tokens", reply.prompt_tokens},
                                  {"completion_tokens", completion_tokens},
                                  {"total_tokens", reply.prompt_tokens + completion_tokens}};

    if (!stream) {
        nlohmann::json body = {{"id", "chatcmpl-test"},
                               {"object", "chat.completion"},
                               {"created", 0},
                               {"model", model},
                               {"choices",
                                {{{"index", 0},
                                  {"message", {{"role", "assistant"}, {"content", reply.text}}},
                                  {"finish_reason", reply.finish_reason}}}},
                               {"usage", usage}};
        if (!reply.logprobs.empty()) body["choices"][0]["logprobs"] = {{"content", reply.logprobs}};
        const std::string text = body.dump();
        const std::string head =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
            std::to_string(text.size()) + "\r\nConnection: close\r\n" + extra + "\r\n";
        if (!pause(reply.chunk_delay)) return;  // a non-streamed answer takes its time too
        if (!send_all(fd, head + text)) ++abandoned_;
        return;
    }

    auto event = [&](const nlohmann::json& delta, const nlohmann::json& finish,
                     const nlohmann::json* logprob = nullptr) {
        nlohmann::json e = {
            {"id", "chatcmpl-test"},
            {"object", "chat.completion.chunk"},
            {"created", 0},
            {"model", model},
            {"choices", {{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}}}};
        if (logprob) e["choices"][0]["logprobs"] = {{"content", nlohmann::json::array({*logprob})}};
        return chunk("data: " + e.dump() + "\n\n");
    };
    const std::string head =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
        "Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\nConnection: close\r\n" +
        extra + "\r\n";
    if (!send_all(fd, head + event({{"role", "assistant"}, {"content", ""}}, nullptr))) {
        ++abandoned_;
        return;
    }
    for (std::size_t i = 0; i < pieces.size(); ++i) {
        if (reply.truncate_after >= 0 && static_cast<int>(i) >= reply.truncate_after)
            return;  // hang up mid-stream
        if (i > 0 && !pause(reply.chunk_delay)) return;
        const nlohmann::json* logprob = i < reply.logprobs.size() ? &reply.logprobs[i] : nullptr;
        if (!send_all(fd, event({{"content", pieces[i]}}, nullptr, logprob))) {
            ++abandoned_;
            return;
        }
    }
    if (reply.truncate_after >= 0) return;
    std::string tail = event(nlohmann::json::object(), reply.finish_reason);
    const bool include_usage = request.json.contains("stream_options") &&
                               request.json["stream_options"].is_object() &&
                               request.json["stream_options"].value("include_usage", false);
    if (include_usage) {
        const nlohmann::json e = {
            {"id", "chatcmpl-test"}, {"object", "chat.completion.chunk"},  {"created", 0},
            {"model", model},        {"choices", nlohmann::json::array()}, {"usage", usage}};
        tail += chunk("data: " + e.dump() + "\n\n");
    }
    tail += chunk("data: [DONE]\n\n") + "0\r\n\r\n";
    if (!send_all(fd, tail)) ++abandoned_;
}

// ---- data: URLs ------------------------------------------------------------------------------

std::optional<std::vector<std::uint8_t>> decode_base64(std::string_view text) {
    std::vector<std::uint8_t> out;
    out.reserve(text.size() / 4 * 3);
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : text) {
        int v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '+')
            v = 62;
        else if (c == '/')
            v = 63;
        else if (c == '=')
            break;
        else
            return std::nullopt;
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xFF));
        }
    }
    return out;
}

std::optional<DataUrl> parse_data_url(std::string_view url) {
    if (!url.starts_with("data:")) return std::nullopt;
    const auto comma = url.find(',');
    if (comma == std::string_view::npos) return std::nullopt;
    const std::string_view meta = url.substr(5, comma - 5);
    if (!meta.ends_with(";base64")) return std::nullopt;
    auto bytes = decode_base64(url.substr(comma + 1));
    if (!bytes) return std::nullopt;
    return DataUrl{std::string(meta.substr(0, meta.size() - 7)), std::move(*bytes)};
}

}  // namespace deskpilot::testing
