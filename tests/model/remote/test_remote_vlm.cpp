// RemoteVlm against the loopback OpenAI server: real HTTP, real SSE, real timing.
#include <QtTest>

#include <cmath>
#include <cstdlib>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <opencv2/imgcodecs.hpp>

#include "model/remote/remote_vlm.h"
#include "openai_server.h"

using namespace deskpilot;
using namespace deskpilot::model;
using namespace std::chrono_literals;
using testing::OpenAiServer;
using testing::ScriptedReply;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kKeyVar = "DESKPILOT_TEST_REMOTE_KEY";
constexpr const char* kKey = "sk-test-9f8e7d6c5b4a-secret";

std::shared_ptr<const vision::Frame> make_frame(int w, int h, int seed = 0) {
    auto pixels = std::make_shared<std::vector<std::uint8_t>>(static_cast<std::size_t>(w) * h * 4);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            std::uint8_t* p = pixels->data() + (static_cast<std::size_t>(y) * w + x) * 4;
            p[0] = static_cast<std::uint8_t>(x + seed);
            p[1] = static_cast<std::uint8_t>(y);
            p[2] = static_cast<std::uint8_t>((x / 64 + y / 64) % 2 ? 255 : 0);
            p[3] = 255;
        }
    auto frame = std::make_shared<vision::Frame>();
    frame->width = w;
    frame->height = h;
    frame->stride = static_cast<std::size_t>(w) * 4;
    frame->pixels = std::move(pixels);
    return frame;
}

planner::Request text_request(const std::string& text = "Click OK",
                              const std::string& family = "ui-tars-1.5") {
    planner::Request r;
    r.family = family;
    r.messages.push_back({planner::Role::user, {planner::ContentPart::of_text(text)}});
    return r;
}

planner::Request screenshots_request(int screenshots, const std::string& family = "ui-tars-1.5") {
    planner::Request r;
    r.family = family;
    r.messages.push_back(
        {planner::Role::system, {planner::ContentPart::of_text("You are a GUI agent.")}});
    for (int i = 0; i < screenshots; ++i) {
        r.messages.push_back(
            {planner::Role::user, {planner::ContentPart::of_image(make_frame(640, 480, i))}});
        if (i + 1 < screenshots)
            r.messages.push_back(
                {planner::Role::assistant, {planner::ContentPart::of_text("Action: wait()")}});
    }
    return r;
}

RemoteConfig config_for(const OpenAiServer& server, std::string model = "ui-tars-1.5-7b") {
    RemoteConfig c;
    c.endpoint = server.base_url();
    c.model = std::move(model);
    c.retry.base_delay = 20ms;
    c.jitter_seed = 42;
    return c;
}

struct Chunk {
    std::string text;
    Clock::time_point at;
};

struct Outcome {
    Response response;
    std::vector<Chunk> chunks;
    std::string error;
};

Outcome call(RemoteVlm& vlm, const planner::Request& request, const GenerateOptions& options = {},
             const CancelToken* cancel = nullptr) {
    static CancelToken never;
    Outcome out;
    try {
        out.response = vlm.generate(
            request, options,
            [&](std::string_view c) {
                out.chunks.push_back({std::string(c), Clock::now()});
            },
            cancel ? *cancel : never);
    } catch (const ModelError& e) {
        out.error = e.what();
    }
    return out;
}

std::string error_of(RemoteVlm& vlm, const planner::Request& request) {
    const Outcome o = call(vlm, request);
    if (o.error.empty())
        qWarning() << "expected an error, got text" << QString::fromStdString(o.response.text);
    return o.error;
}

cv::Mat decode(const std::string& url, std::string* mime = nullptr) {
    const auto data = testing::parse_data_url(url);
    if (!data) return {};
    if (mime) *mime = data->mime;
    return cv::imdecode(data->bytes, cv::IMREAD_COLOR);
}

double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

// A loopback port with nothing listening on it.
int closed_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

// Cancels `token` after `delay` (or when `when` returns true), records the moment.
struct Canceller {
    Clock::time_point cancelled_at;
    std::thread thread;
    Canceller(CancelToken& token, std::function<bool()> when) {
        thread = std::thread([this, &token, when] {
            while (!when()) std::this_thread::sleep_for(1ms);
            cancelled_at = Clock::now();
            token.cancel();
        });
    }
    ~Canceller() {
        if (thread.joinable()) thread.join();
    }
};

std::function<bool()> after(std::chrono::milliseconds delay) {
    const auto at = Clock::now() + delay;
    return [at] { return Clock::now() >= at; };
}

}  // namespace

class RemoteVlmTest : public QObject {
    Q_OBJECT
  private slots:
    void initTestCase() {
        // Loopback must never go through a proxy the developer's environment names.
        ::setenv("NO_PROXY", "127.0.0.1,localhost", 1);
        ::setenv("no_proxy", "127.0.0.1,localhost", 1);
    }
    void init() { ::unsetenv(kKeyVar); }

    // ---- request contents ------------------------------------------------------------------

    void requestCarriesTurnsImagesAndParameters() {
        OpenAiServer server;
        RemoteVlm vlm(config_for(server));
        planner::Request request;
        request.family = "ui-tars-1.5";
        request.messages.push_back(
            {planner::Role::system, {planner::ContentPart::of_text("You are a GUI agent.")}});
        request.messages.push_back({planner::Role::user,
                                    {planner::ContentPart::of_text("Open the menu"),
                                     planner::ContentPart::of_image(make_frame(1920, 1080))}});
        request.messages.push_back(
            {planner::Role::assistant, {planner::ContentPart::of_text("Action: click(...)")}});
        request.messages.push_back(
            {planner::Role::user, {planner::ContentPart::of_image(make_frame(2560, 1440))}});
        GenerateOptions options;
        options.temperature = 0.25;
        options.top_p = 0.9;
        options.max_tokens = 77;
        options.frequency_penalty = 0.5;
        options.stop = {"\n\n", "</s>"};
        options.seed = 7;
        const Outcome o = call(vlm, request, options);
        QVERIFY2(o.error.empty(), o.error.c_str());

        const auto reqs = server.chat_requests();
        QCOMPARE(reqs.size(), std::size_t(1));
        const auto& j = reqs[0].json;
        QCOMPARE(QString::fromStdString(reqs[0].path), QString("/v1/chat/completions"));
        QCOMPARE(j["model"].get<std::string>(), std::string("ui-tars-1.5-7b"));
        QCOMPARE(j["messages"].size(), std::size_t(4));
        QCOMPARE(j["messages"][0]["role"].get<std::string>(), std::string("system"));
        QCOMPARE(j["messages"][0]["content"].get<std::string>(),
                 std::string("You are a GUI agent."));
        QCOMPARE(j["messages"][1]["role"].get<std::string>(), std::string("user"));
        QCOMPARE(j["messages"][1]["content"][0]["text"].get<std::string>(),
                 std::string("Open the menu"));
        QCOMPARE(j["messages"][2]["role"].get<std::string>(), std::string("assistant"));
        QCOMPARE(j["messages"][2]["content"].get<std::string>(), std::string("Action: click(...)"));
        QCOMPARE(j["temperature"].get<double>(), 0.25);
        QCOMPARE(j["top_p"].get<double>(), 0.9);
        QCOMPARE(j["max_tokens"].get<int>(), 77);
        QCOMPARE(j["frequency_penalty"].get<double>(), 0.5);
        QCOMPARE(j["stop"], (nlohmann::json{"\n\n", "</s>"}));
        QCOMPARE(j["seed"].get<int>(), 7);
        QCOMPARE(j["stream"].get<bool>(), true);
        QVERIFY(reqs[0].header("authorization").empty());

        // Each screenshot: a PNG that decodes, at the UI-TARS smart_resize size.
        const auto urls = reqs[0].image_urls();
        QCOMPARE(urls.size(), std::size_t(2));
        std::string mime;
        const cv::Mat first = decode(urls[0], &mime);
        QCOMPARE(mime, std::string("image/png"));
        QCOMPARE(first.cols, 1932);
        QCOMPARE(first.rows, 1092);
        const cv::Mat second = decode(urls[1]);
        QCOMPARE(second.cols, 2548);
        QCOMPARE(second.rows, 1428);
    }

    void familyDecidesTheImageSizeAndJpegIsAnOption() {
        OpenAiServer server;
        RemoteConfig c = config_for(server);
        c.image.format = vision::ImageFormat::jpeg;
        c.image.jpeg_quality = 60;
        RemoteVlm vlm(c);
        planner::Request request;
        request.messages.push_back(
            {planner::Role::user, {planner::ContentPart::of_image(make_frame(1920, 1080))}});
        const std::pair<const char*, cv::Size> cases[] = {
            {"qwen3-vl", {1920, 1088}}, {"qwen2.5-vl", {1932, 1092}}, {"doubao", {1932, 1092}}};
        for (const auto& [family, size] : cases) {
            request.family = family;
            const Outcome o = call(vlm, request);
            QVERIFY2(o.error.empty(), o.error.c_str());
            std::string mime;
            const cv::Mat image = decode(server.chat_requests().back().image_urls().at(0), &mime);
            QCOMPARE(mime, std::string("image/jpeg"));
            QCOMPARE(image.cols, size.width);
            QCOMPARE(image.rows, size.height);
        }
        request.family = "no-such-family";
        const Outcome bad = call(vlm, request);
        QVERIFY2(bad.error.find("unknown model family 'no-such-family'") != std::string::npos,
                 bad.error.c_str());
    }

    void resizedImageKeepsTheContent() {
        // The picture survives the resize: left half dark, right half bright stays so.
        OpenAiServer server;
        RemoteVlm vlm(config_for(server));
        auto pixels = std::make_shared<std::vector<std::uint8_t>>(1920u * 1080 * 4, 0);
        for (int y = 0; y < 1080; ++y)
            for (int x = 960; x < 1920; ++x)
                std::fill_n(pixels->data() + (y * 1920 + x) * 4, 4, 255);
        auto frame = std::make_shared<vision::Frame>();
        *frame = {1920, 1080, 1920 * 4, pixels};
        planner::Request request;
        request.family = "ui-tars-1.5";
        request.messages.push_back({planner::Role::user, {planner::ContentPart::of_image(frame)}});
        QVERIFY(call(vlm, request).error.empty());
        const cv::Mat image = decode(server.chat_requests().back().image_urls().at(0));
        QCOMPARE(image.at<cv::Vec3b>(546, 100)[1], std::uint8_t(0));
        QCOMPARE(image.at<cv::Vec3b>(546, 1800)[1], std::uint8_t(255));
    }

    void baseUrlWithOrWithoutV1() {
        OpenAiServer server;
        for (const std::string& endpoint :
             {server.root_url(), server.root_url() + "/", server.base_url(),
              server.base_url() + "/", server.base_url() + "/chat/completions"}) {
            RemoteConfig c = config_for(server);
            c.endpoint = endpoint;
            RemoteVlm vlm(c);
            const Outcome o = call(vlm, text_request());
            QVERIFY2(o.error.empty(), (endpoint + ": " + o.error).c_str());
            QCOMPARE(QString::fromStdString(o.response.text),
                     QString("Thought: Nothing to do.\nAction: finished(content='done')"));
            QCOMPARE(vlm.list_models(), std::vector<std::string>{"ui-tars-1.5-7b"});
        }
        for (const auto& r : server.requests()) QVERIFY(r.path.starts_with("/v1/"));
    }

    void extraHeadersAndKeyAreSent() {
        OpenAiServer server;
        server.set_api_key(kKey);
        ::setenv(kKeyVar, kKey, 1);
        RemoteConfig c = config_for(server);
        c.api_key_env = kKeyVar;
        c.headers = {{"X-Org", "acme"}, {"X-Trace", "t-1"}};
        RemoteVlm vlm(c);
        const Outcome o = call(vlm, text_request());
        QVERIFY2(o.error.empty(), o.error.c_str());
        const auto r = server.chat_requests().at(0);
        QCOMPARE(r.header("authorization"), std::string("Bearer ") + kKey);
        QCOMPARE(r.header("x-org"), std::string("acme"));
        QCOMPARE(r.header("x-trace"), std::string("t-1"));
        QVERIFY(vlm.describe().find(kKey) == std::string::npos);
        QCOMPARE(QString::fromStdString(vlm.describe()),
                 QString("remote ui-tars-1.5-7b @ 127.0.0.1:%1").arg(server.port()));
    }

    void repeatedScreenshotsAreEncodedOnce() {
        OpenAiServer server;
        RemoteVlm vlm(config_for(server));
        const auto shot = make_frame(1920, 1080);
        planner::Request request;
        request.family = "ui-tars-1.5";
        request.messages.push_back({planner::Role::user, {planner::ContentPart::of_image(shot)}});
        const auto t_first = Clock::now();
        QVERIFY(call(vlm, request).error.empty());
        const double first = ms_between(t_first, Clock::now());
        const auto t0 = Clock::now();
        QVERIFY(call(vlm, request).error.empty());
        const double second = ms_between(t0, Clock::now());
        qInfo() << "request with a new 1920x1080 screenshot (resize + PNG):" << first
                << "ms; with the same one again:" << second << "ms";
        const auto reqs = server.chat_requests();
        QCOMPARE(reqs[0].image_urls(), reqs[1].image_urls());
    }

    // ---- streaming ---------------------------------------------------------------------------

    void streamingDeliversChunksInOrderAsTheyArrive() {
        OpenAiServer server;
        const std::vector<std::string> pieces = {
            "Thought: ", "the OK ", "button.\n", "Action: ", "click(start_box='(1,2)')", "ü€"};
        server.push(ScriptedReply::drip(pieces, 40ms));
        RemoteVlm vlm(config_for(server));
        const auto start = Clock::now();
        const Outcome o = call(vlm, text_request());
        QVERIFY2(o.error.empty(), o.error.c_str());
        std::vector<std::string> got;
        for (const auto& c : o.chunks) got.push_back(c.text);
        QCOMPARE(got, pieces);
        QCOMPARE(o.response.text,
                 std::string("Thought: the OK button.\nAction: click(start_box='(1,2)')ü€"));
        QCOMPARE(o.response.finish_reason, std::string("stop"));
        QCOMPARE(o.response.prompt_tokens, 100);
        QCOMPARE(o.response.completion_tokens, 6);
        // Chunks arrive as the server sends them, not all at the end.
        QVERIFY2(ms_between(o.chunks.front().at, o.chunks.back().at) >= 150,
                 "chunks came all at once");
        QVERIFY(o.response.time_to_first_token_ms < o.response.total_ms - 150);
        QVERIFY(o.response.time_to_first_token_ms >= 0);
        QVERIFY(o.response.total_ms <= ms_between(start, Clock::now()) + 1);
        const auto req = server.chat_requests().at(0);
        QVERIFY(req.json["stream_options"]["include_usage"].get<bool>());
    }

    void finishReasonLengthIsReported() {
        OpenAiServer server;
        ScriptedReply r = ScriptedReply::answer("Thought: cut");
        r.finish_reason = "length";
        server.push(r);
        ScriptedReply plain = r;
        server.push(plain);
        RemoteVlm vlm(config_for(server));
        QCOMPARE(call(vlm, text_request()).response.finish_reason, std::string("length"));
        RemoteConfig c = config_for(server);
        c.stream = false;
        RemoteVlm unstreamed(c);
        const Outcome o = call(unstreamed, text_request());
        QCOMPARE(o.response.finish_reason, std::string("length"));
        QCOMPARE(o.response.completion_tokens, 2);  // "Thought: cut" in 6-byte pieces
        QCOMPARE(server.chat_requests().back().json["stream"].get<bool>(), false);
    }

    void fallsBackWhenTheServerRefusesStreaming() {
        OpenAiServer server;
        server.set_stream_support(testing::StreamSupport::refuse);
        server.set_default(ScriptedReply::answer("Action: wait()"));
        RemoteConfig c = config_for(server);
        std::vector<std::string> log;
        c.log = [&](const std::string& line) { log.push_back(line); };
        RemoteVlm vlm(c);
        const Outcome o = call(vlm, text_request());
        QVERIFY2(o.error.empty(), o.error.c_str());
        QCOMPARE(o.response.text, std::string("Action: wait()"));
        QCOMPARE(o.chunks.size(), std::size_t(1));
        auto reqs = server.chat_requests();
        QCOMPARE(reqs.size(), std::size_t(2));
        QCOMPARE(reqs[0].json["stream"].get<bool>(), true);
        QCOMPARE(reqs[1].json["stream"].get<bool>(), false);
        QVERIFY(!reqs[1].json.contains("stream_options"));
        QCOMPARE(log.size(), std::size_t(1));
        QVERIFY2(log[0].find("refused a streamed request") != std::string::npos, log[0].c_str());
        QVERIFY(!vlm.streaming());
        // Later calls do not ask again.
        QVERIFY(call(vlm, text_request()).error.empty());
        reqs = server.chat_requests();
        QCOMPARE(reqs.size(), std::size_t(3));
        QCOMPARE(reqs[2].json["stream"].get<bool>(), false);
    }

    void acceptsAPlainAnswerToAStreamedRequest() {
        OpenAiServer server;
        server.set_stream_support(testing::StreamSupport::ignore);
        RemoteVlm vlm(config_for(server));
        const Outcome o = call(vlm, text_request());
        QVERIFY2(o.error.empty(), o.error.c_str());
        QCOMPARE(o.response.text,
                 std::string("Thought: Nothing to do.\nAction: finished(content='done')"));
        QCOMPARE(server.chat_requests().size(), std::size_t(1));
    }

    // ---- coordinate readout from top_logprobs -------------------------------------------------

    // deskpilot-nano served by a vLLM-like server: one token per number, logprobs per token.
    // The x row holds 120 (0.3), 124 (0.3) and 126 (0.2): the readout writes 123; y stays 45.
    static ScriptedReply nano_answer() {
        auto entry = [](std::string token, double p,
                        std::vector<std::pair<std::string, double>> alternatives = {}) {
            nlohmann::json top =
                nlohmann::json::array({{{"token", token}, {"logprob", std::log(p)}}});
            for (const auto& [alt, q] : alternatives)
                top.push_back({{"token", alt}, {"logprob", std::log(q)}});
            return nlohmann::json{
                {"token", token}, {"logprob", std::log(p)}, {"top_logprobs", top}};
        };
        ScriptedReply r;
        r.logprobs = {entry("Action: click(start_box='", 1),
                      entry("<|box_start|>", 1),
                      entry("(", 1),
                      entry("120", 0.3, {{"124", 0.3}, {"126", 0.2}}),
                      entry(",", 1),
                      entry("45", 0.9, {{"46", 0.05}, {"44", 0.05}}),
                      entry(")", 1),
                      entry("<|box_end|>')", 1)};
        for (const auto& e : r.logprobs) r.chunks.push_back(e["token"].get<std::string>());
        for (const auto& c : r.chunks) r.text += c;
        return r;
    }

    void coordinateWindowReadsTopLogprobs() {
        const std::string read = "Action: click(start_box='<|box_start|>(123,45)<|box_end|>')";
        for (const bool stream : {true, false}) {
            OpenAiServer server;
            server.push(nano_answer());
            RemoteConfig c = config_for(server, "deskpilot-nano");
            c.stream = stream;
            c.coordinate_window = 16;
            RemoteVlm vlm(c);
            QVERIFY(vlm.describe().find(", coordinate window 16") != std::string::npos);
            const Outcome o = call(vlm, text_request());
            QVERIFY2(o.error.empty(), o.error.c_str());
            QCOMPARE(o.response.text, read);
            std::string shown;
            for (const auto& chunk : o.chunks) shown += chunk.text;
            QCOMPARE(shown, read);  // what streamed is what the agent acts on
            const auto req = server.chat_requests().at(0);
            QCOMPARE(req.json["logprobs"].get<bool>(), true);
            QCOMPARE(req.json["top_logprobs"].get<int>(), 20);
        }
        // Sampled answers stay as drawn, and ask for no logprobs.
        OpenAiServer server;
        server.push(nano_answer());
        RemoteConfig c = config_for(server, "deskpilot-nano");
        c.coordinate_window = 16;
        RemoteVlm vlm(c);
        GenerateOptions sampled;
        sampled.temperature = 0.7;
        const Outcome o = call(vlm, text_request(), sampled);
        QCOMPARE(o.response.text, nano_answer().text);
        QVERIFY(!server.chat_requests().at(0).json.contains("logprobs"));
    }

    // A server that ignores "logprobs": the answer as written, and one notice saying why.
    void coordinateWindowWithoutLogprobsSaysSo() {
        OpenAiServer server;
        ScriptedReply r = nano_answer();
        r.logprobs.clear();
        server.push(r);
        RemoteConfig c = config_for(server, "deskpilot-nano");
        c.coordinate_window = 16;
        std::vector<std::string> log;
        c.log = [&](const std::string& line) { log.push_back(line); };
        RemoteVlm vlm(c);
        const Outcome o = call(vlm, text_request());
        QVERIFY2(o.error.empty(), o.error.c_str());
        QCOMPARE(o.response.text, r.text);
        QCOMPARE(log.size(), std::size_t(1));
        QVERIFY2(log[0].find("sent no logprobs") != std::string::npos, log[0].c_str());
    }

    // ---- retries -----------------------------------------------------------------------------

    void retriesServerErrorsWithGrowingJitteredGaps() {
        OpenAiServer server;
        server.push(ScriptedReply::error(500, "engine hiccup"));
        server.push(ScriptedReply::error(502, "bad gateway"));
        server.push(ScriptedReply::error(503, "warming up"));
        server.push(ScriptedReply::answer("Action: wait()"));
        RemoteConfig c = config_for(server);
        c.retry.base_delay = 100ms;
        std::vector<std::string> log;
        c.log = [&](const std::string& line) { log.push_back(line); };
        RemoteVlm vlm(c);
        const Outcome o = call(vlm, text_request());
        QVERIFY2(o.error.empty(), o.error.c_str());
        QCOMPARE(o.response.text, std::string("Action: wait()"));
        const auto reqs = server.chat_requests();
        QCOMPARE(reqs.size(), std::size_t(4));
        // Equal jitter: retry k waits within [base·2^k / 2, base·2^k].
        for (int k = 0; k < 3; ++k) {
            const double gap = ms_between(reqs[k].received, reqs[k + 1].received);
            const double full = 100.0 * (1 << k);
            qInfo() << "gap before retry" << k + 1 << ":" << gap << "ms, window" << full / 2 << "-"
                    << full;
            QVERIFY2(gap >= full / 2 - 1 && gap <= full + 150, qPrintable(QString::number(gap)));
        }
        QCOMPARE(log.size(), std::size_t(3));
        QVERIFY2(log[0].find("HTTP 500") != std::string::npos &&
                     log[0].find("engine hiccup") != std::string::npos &&
                     log[0].find("retry 1 of 3") != std::string::npos,
                 log[0].c_str());
    }

    void givesUpAfterThreeRetries() {
        OpenAiServer server;
        server.set_default(ScriptedReply::error(503, "overloaded"));
        RemoteVlm vlm(config_for(server));
        const std::string e = error_of(vlm, text_request());
        QVERIFY2(e.find("HTTP 503 Service Unavailable") != std::string::npos, e.c_str());
        QVERIFY2(e.find("overloaded") != std::string::npos, e.c_str());
        QVERIFY2(e.find("gave up after 4 attempts") != std::string::npos, e.c_str());
        QCOMPARE(server.chat_requests().size(), std::size_t(4));

        RemoteConfig c = config_for(server);
        c.retry.max_retries = 1;
        RemoteVlm once(c);
        const std::size_t before = server.chat_requests().size();
        QVERIFY(error_of(once, text_request()).find("gave up after 2 attempts") !=
                std::string::npos);
        QCOMPARE(server.chat_requests().size(), before + 2);
    }

    void honoursRetryAfter() {
        OpenAiServer server;
        server.push(ScriptedReply::too_many_requests("1"));
        server.push(ScriptedReply::answer("Action: wait()"));
        RemoteConfig c = config_for(server);
        c.retry.base_delay = 10ms;
        std::vector<std::string> log;
        c.log = [&](const std::string& line) { log.push_back(line); };
        RemoteVlm vlm(c);
        const Outcome o = call(vlm, text_request());
        QVERIFY2(o.error.empty(), o.error.c_str());
        const auto reqs = server.chat_requests();
        QCOMPARE(reqs.size(), std::size_t(2));
        const double gap = ms_between(reqs[0].received, reqs[1].received);
        qInfo() << "gap after Retry-After: 1 ->" << gap << "ms";
        QVERIFY2(gap >= 999 && gap < 1400, qPrintable(QString::number(gap)));
        QVERIFY2(log.at(0).find("busy (HTTP 429 Too Many Requests)") != std::string::npos,
                 log[0].c_str());
        QVERIFY2(log.at(0).find("retrying in 1.0 s") != std::string::npos, log[0].c_str());
    }

    void retryAfterBeyondTheLimitEndsTheCall() {
        OpenAiServer server;
        server.push(ScriptedReply::too_many_requests("3600"));
        RemoteConfig c = config_for(server);
        c.retry.max_retry_after = 5s;
        RemoteVlm vlm(c);
        const auto t0 = Clock::now();
        const std::string e = error_of(vlm, text_request());
        QVERIFY(ms_between(t0, Clock::now()) < 1000);
        QVERIFY2(e.find("retry after 3600.0 s") != std::string::npos, e.c_str());
        QCOMPARE(server.chat_requests().size(), std::size_t(1));
    }

    void noRetryOnOtherClientErrors() {
        OpenAiServer server;
        server.push(ScriptedReply::error(400, "temperature must be non-negative"));
        server.push(ScriptedReply::error(422, "unprocessable"));
        RemoteVlm vlm(config_for(server));
        const std::string e = error_of(vlm, text_request());
        QVERIFY2(
            e.find(
                "rejected the request (HTTP 400 Bad Request): temperature must be non-negative") !=
                std::string::npos,
            e.c_str());
        QCOMPARE(server.chat_requests().size(), std::size_t(1));
        const std::string e2 = error_of(vlm, text_request());
        QVERIFY2(e2.find("HTTP 422") != std::string::npos, e2.c_str());
        QCOMPARE(server.chat_requests().size(), std::size_t(2));
    }

    void retriesConnectionErrors() {
        RemoteConfig c;
        c.endpoint = "http://127.0.0.1:" + std::to_string(closed_port());
        c.model = "m";
        c.retry.base_delay = 40ms;
        c.jitter_seed = 1;
        int notes = 0;
        c.log = [&](const std::string&) { ++notes; };
        RemoteVlm vlm(c);
        const auto t0 = Clock::now();
        const std::string e = error_of(vlm, text_request());
        const double elapsed = ms_between(t0, Clock::now());
        QVERIFY2(e.find("cannot reach http://127.0.0.1:") != std::string::npos, e.c_str());
        QVERIFY2(e.find("gave up after 4 attempts") != std::string::npos, e.c_str());
        QCOMPARE(notes, 3);
        QVERIFY2(elapsed >= (20 + 40 + 80) - 3,
                 qPrintable(QString::number(elapsed)));  // the shortest backoffs

        // A server that hangs up without answering is retried too.
        OpenAiServer server;
        server.push(ScriptedReply::disconnect());
        server.push(ScriptedReply::answer("Action: wait()"));
        RemoteVlm vlm2(config_for(server));
        const Outcome o = call(vlm2, text_request());
        QVERIFY2(o.error.empty(), o.error.c_str());
        QCOMPARE(server.chat_requests().size(), std::size_t(2));
    }

    void connectTimeoutIsRetriedThenNamed() {
        // A listener whose accept queue is full drops further SYNs, so connecting hangs.
        const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        QVERIFY(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        QVERIFY(::listen(listener, 0) == 0);
        socklen_t len = sizeof addr;
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
        const int filler = ::socket(AF_INET, SOCK_STREAM, 0);
        QVERIFY(::connect(filler, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);

        RemoteConfig c;
        c.endpoint = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
        c.model = "m";
        c.connect_timeout = 150ms;
        c.retry.max_retries = 1;
        c.retry.base_delay = 10ms;
        RemoteVlm vlm(c);
        const auto t0 = Clock::now();
        const std::string e = error_of(vlm, text_request());
        const double elapsed = ms_between(t0, Clock::now());
        ::close(filler);
        ::close(listener);
        qInfo() << "two connect timeouts of 150 ms took" << elapsed << "ms:" << e.c_str();
        QVERIFY2(e.find("cannot reach http://127.0.0.1:") != std::string::npos, e.c_str());
        QVERIFY2(e.find("gave up after 2 attempts") != std::string::npos, e.c_str());
        QVERIFY2(elapsed >= 2 * 150 - 5 && elapsed < 1500, qPrintable(QString::number(elapsed)));
    }

    // ---- errors ------------------------------------------------------------------------------

    void unauthorizedNamesTheKeyVariable() {
        OpenAiServer server;
        server.set_api_key("the-right-key");
        ::setenv(kKeyVar, kKey, 1);
        RemoteConfig c = config_for(server);
        c.api_key_env = kKeyVar;
        RemoteVlm vlm(c);
        const std::string e = error_of(vlm, text_request());
        QVERIFY2(e.find(std::string("rejected the API key from $") + kKeyVar +
                        " (HTTP 401 Unauthorized)") != std::string::npos,
                 e.c_str());
        QVERIFY(e.find(kKey) == std::string::npos);
        QCOMPARE(server.chat_requests().size(), std::size_t(1));

        RemoteVlm keyless(config_for(server));
        const std::string e2 = error_of(keyless, text_request());
        QVERIFY2(e2.find("--api-key-env") != std::string::npos, e2.c_str());

        server.push(ScriptedReply::error(403, "forbidden for this org"));
        server.set_api_key("");
        const std::string e3 = error_of(vlm, text_request());
        QVERIFY2(e3.find("HTTP 403 Forbidden") != std::string::npos &&
                     e3.find("forbidden for this org") != std::string::npos,
                 e3.c_str());

        ::setenv(kKeyVar, "the-right-key", 1);
        server.set_api_key("the-right-key");
        RemoteVlm right(c);
        QVERIFY(call(right, text_request()).error.empty());
    }

    void missingOrBadKeyVariableIsNamed() {
        OpenAiServer server;
        RemoteConfig c = config_for(server);
        c.api_key_env = kKeyVar;
        auto message = [&] {
            try {
                RemoteVlm vlm(c);
            } catch (const ModelError& e) {
                return std::string(e.what());
            }
            return std::string();
        };
        QCOMPARE(message(), std::string("--api-key-env ") + kKeyVar +
                                ": the environment variable " + kKeyVar + " is not set");
        ::setenv(kKeyVar, "  ", 1);
        QVERIFY(message().find("is empty") != std::string::npos);
        ::setenv(kKeyVar, "abc\ndef", 1);
        QVERIFY(message().find("line break") != std::string::npos);
        QVERIFY(message().find("abc") == std::string::npos);
        c.api_key_env.clear();
        c.headers = {{"Bad Name", "x"}};
        QVERIFY(message().find("not a valid header name") != std::string::npos);
        c.headers = {{"X-Ok", "a\r\nInjected: 1"}};
        QVERIFY(message().find("line break") != std::string::npos);
    }

    void unknownModelListsTheServersModels() {
        OpenAiServer server;
        server.set_models({"ui-tars-1.5-7b", "qwen3-vl-30b-a3b"});
        RemoteVlm vlm(config_for(server, "ui-tars-7b"));
        const std::string e = error_of(vlm, text_request());
        QCOMPARE(QString::fromStdString(e),
                 QString("model 'ui-tars-7b' not found at %1; the server offers: ui-tars-1.5-7b, "
                         "qwen3-vl-30b-a3b")
                     .arg(QString::fromStdString(server.base_url())));
        QCOMPARE(server.chat_requests().size(), std::size_t(1));  // 404 is not retried
    }

    void notFoundWithAListedModelPointsAtThePath() {
        OpenAiServer server;
        server.push(ScriptedReply::raw(404, "application/json", R"({"detail":"Not Found"})"));
        RemoteVlm vlm(config_for(server));
        const std::string e = error_of(vlm, text_request());
        QVERIFY2(e.find("although the server lists model 'ui-tars-1.5-7b'") != std::string::npos,
                 e.c_str());
        QVERIFY2(e.find("endpoint's path") != std::string::npos, e.c_str());
    }

    void checkModelBeforeTheFirstStep() {
        OpenAiServer server;
        server.set_models({"a", "qwen2.5vl:latest"});
        QVERIFY(RemoteVlm(config_for(server, "a")).check_model());
        QVERIFY(RemoteVlm(config_for(server, "qwen2.5vl")).check_model());  // Ollama's :latest
        try {
            RemoteVlm(config_for(server, "b")).check_model();
            QFAIL("accepted a missing model");
        } catch (const ModelError& e) {
            QVERIFY2(QString(e.what()).contains("model 'b' not found") &&
                         QString(e.what()).contains("offers: a, qwen2.5vl:latest"),
                     e.what());
        }
        server.set_models_reply(
            ScriptedReply::raw(404, "application/json", R"({"detail":"Not Found"})"));
        QVERIFY(
            !RemoteVlm(config_for(server, "b")).check_model());  // cannot tell; the first step will
        server.set_models_reply(ScriptedReply::error(500, "db down"));
        QVERIFY_THROWS_EXCEPTION(ModelError, RemoteVlm(config_for(server, "a")).check_model());
    }

    void imageLimitGetsAHistoryHint() {
        OpenAiServer server;
        server.set_image_limit(1);
        RemoteVlm vlm(config_for(server));
        const std::string e = error_of(vlm, screenshots_request(3));
        QVERIFY2(
            e.find("HTTP 400 Bad Request): At most 1 image(s) may be provided in one prompt.") !=
                std::string::npos,
            e.c_str());
        QVERIFY2(e.find("hint: this request carried 3 screenshots but the server accepts at most 1 "
                        "per prompt") != std::string::npos,
                 e.c_str());
        QVERIFY2(e.find("lower --history") != std::string::npos, e.c_str());
        QVERIFY2(e.find("--limit-mm-per-prompt") != std::string::npos, e.c_str());
        QCOMPARE(server.chat_requests().size(), std::size_t(1));
        // Within the limit it works.
        QVERIFY(call(vlm, screenshots_request(1)).error.empty());
    }

    void malformedAnswersShowTheirFirstBytes() {
        OpenAiServer server;
        server.push(ScriptedReply::raw(200, "text/html", "<html><body>Proxy login</body></html>"));
        RemoteVlm vlm(config_for(server));
        std::string e = error_of(vlm, text_request());
        QVERIFY2(e.find("is not JSON (Content-Type: text/html): '<html><body>Proxy "
                        "login</body></html>' (37 bytes)") != std::string::npos,
                 e.c_str());

        server.push(ScriptedReply::raw(200, "text/event-stream", "data: {\"choices\": [oops\n\n"));
        e = error_of(vlm, text_request());
        QVERIFY2(
            e.find("carried an event that is not JSON: '{\"choices\": [oops'") != std::string::npos,
            e.c_str());

        server.push(ScriptedReply::raw(200, "application/json", R"({"id":"x","choices":[]})"));
        e = error_of(vlm, text_request());
        QVERIFY2(e.find("has no choices[0].message") != std::string::npos, e.c_str());

        server.push(ScriptedReply::raw(200, "application/json", ""));
        e = error_of(vlm, text_request());
        QVERIFY2(e.find("was empty") != std::string::npos, e.c_str());

        server.push(ScriptedReply::raw(500, "text/plain",
                                       std::string("boom\x01\x02") + std::string(300, 'z')));
        RemoteConfig c = config_for(server);
        c.retry.max_retries = 0;
        RemoteVlm no_retry(c);
        e = error_of(no_retry, text_request());
        QVERIFY2(e.find("HTTP 500 Internal Server Error from") != std::string::npos, e.c_str());
        QVERIFY2(e.find("'boom\\x01\\x02zzz") != std::string::npos &&
                     e.find("(306 bytes)") != std::string::npos,
                 e.c_str());
    }

    void oversizedAnswersAreRefused() {
        OpenAiServer server;
        server.push(ScriptedReply::raw(200, "application/json", std::string(5000, ' ') + "{}"));
        server.push(ScriptedReply::drip(std::vector<std::string>(400, "word "),
                                        std::chrono::milliseconds(0)));
        RemoteConfig c = config_for(server);
        c.max_answer_bytes = 1000;
        RemoteVlm vlm(c);
        std::string e = error_of(vlm, text_request());
        QVERIFY2(e.find("is larger than 1000 bytes") != std::string::npos, e.c_str());
        e = error_of(vlm, text_request());
        QVERIFY2(e.find("is larger than 1000 bytes; it began: 'data: {") != std::string::npos,
                 e.c_str());
        QCOMPARE(server.chat_requests().size(), std::size_t(2));
    }

    void oddButWellFormedAnswersAreNamed() {
        OpenAiServer server;
        server.push(ScriptedReply::raw(
            200, "application/json",
            R"({"choices":[{"message":{"content":42},"finish_reason":"stop"}]})"));
        server.push(ScriptedReply::raw(
            200, "application/json",
            R"json({"choices":[{"message":{"content":[{"type":"text","text":"Act"},{"type":"text","text":"ion: wait()"}]}}]})json"));
        RemoteConfig c = config_for(server);
        c.stream = false;
        RemoteVlm vlm(c);
        const std::string e = error_of(vlm, text_request());
        QVERIFY2(e.find("has a choices[0].message.content that is not text") != std::string::npos,
                 e.c_str());
        const Outcome parts = call(vlm, text_request());
        QVERIFY2(parts.error.empty(), parts.error.c_str());
        QCOMPARE(parts.response.text, std::string("Action: wait()"));

        server.set_models_reply(
            ScriptedReply::raw(200, "application/json", R"({"object":"list"})"));
        try {
            vlm.list_models();
            QFAIL("accepted a model list without data");
        } catch (const ModelError& err) {
            QVERIFY2(QString(err.what()).contains("has no \"data\" array"), err.what());
        }
        RemoteConfig bad = config_for(server);
        bad.image.jpeg_quality = 101;
        QVERIFY_THROWS_EXCEPTION(ModelError, RemoteVlm{bad});
    }

    void truncatedStreamSaysSo() {
        OpenAiServer server;
        server.push(ScriptedReply::truncated({"Thought: I will ", "click the ", "button"}, 2));
        RemoteVlm vlm(config_for(server));
        const Outcome o = call(vlm, text_request());
        QVERIFY2(o.error.find("before the answer was complete") != std::string::npos,
                 o.error.c_str());
        QVERIFY2(o.error.find("after 26 characters of text") != std::string::npos, o.error.c_str());
        QVERIFY2(o.error.find("it began: 'data: {") != std::string::npos, o.error.c_str());
        QCOMPARE(o.chunks.size(), std::size_t(2));  // what came was delivered
        QCOMPARE(server.chat_requests().size(),
                 std::size_t(1));  // not retried: text was already shown

        // A stream that ends cleanly at the HTTP level but never finishes the answer.
        server.push(ScriptedReply::raw(
            200, "text/event-stream",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Thou\"}}]}\n\n"));
        const Outcome o2 = call(vlm, text_request());
        QVERIFY2(o2.error.find(
                     "ended before the answer was complete (no finish_reason and no [DONE])") !=
                     std::string::npos,
                 o2.error.c_str());
    }

    void errorEventMidStream() {
        OpenAiServer server;
        server.push(ScriptedReply::raw(
            200, "text/event-stream",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Tho\"}}]}\n\n"
            "data: {\"error\":{\"message\":\"CUDA out of "
            "memory\",\"type\":\"InternalServerError\"}}\n\n"));
        RemoteVlm vlm(config_for(server));
        const std::string e = error_of(vlm, text_request());
        QVERIFY2(e.find("reported an error in the middle of its answer: CUDA out of memory") !=
                     std::string::npos,
                 e.c_str());
    }

    void keyNeverAppearsInErrorsOrLogs() {
        // A hostile or careless server echoes the Authorization header everywhere it can.
        OpenAiServer server;
        ::setenv(kKeyVar, kKey, 1);
        RemoteConfig c = config_for(server);
        c.api_key_env = kKeyVar;
        c.headers = {{"X-Api-Key", "second-secret-value"}};
        c.endpoint = "http://user:url-password@127.0.0.1:" + std::to_string(server.port());
        std::vector<std::string> log;
        c.log = [&](const std::string& line) { log.push_back(line); };
        int call_no = 0;
        server.set_handler([&](const testing::RecordedRequest& r) {
            const std::string echo = r.header("authorization") + " " + r.header("x-api-key");
            switch (call_no++ % 6) {
                case 0:
                    return ScriptedReply::error(500, "bad key " + echo);
                case 1:
                    return ScriptedReply::error(400, "you sent " + echo);
                case 2:
                    return ScriptedReply::raw(200, "text/plain", "not json " + echo);
                case 3:
                    return ScriptedReply::error(401, "wrong " + echo);
                case 4:
                    return ScriptedReply::raw(200, "text/event-stream",
                                              "data: {broken " + echo + "\n\n");
                default:
                    return ScriptedReply::error(404, "no model for " + echo);
            }
        });
        RemoteVlm vlm(c);
        std::vector<std::string> errors;
        for (int i = 0; i < 5; ++i) errors.push_back(error_of(vlm, text_request()));
        try {
            vlm.list_models();
        } catch (const ModelError& e) {
            errors.push_back(e.what());
        }
        QVERIFY(server.chat_requests().at(0).header("authorization") ==
                std::string("Bearer ") + kKey);
        int redacted = 0;
        for (const auto& text : errors) {
            QVERIFY2(!text.empty(), "expected an error");
            QVERIFY2(text.find(kKey) == std::string::npos, text.c_str());
            QVERIFY2(text.find("second-secret-value") == std::string::npos, text.c_str());
            QVERIFY2(text.find("url-password") == std::string::npos, text.c_str());
            redacted += text.find("[redacted]") != std::string::npos;
        }
        QVERIFY(redacted >= 4);
        QVERIFY(!log.empty());
        for (const auto& line : log) {
            QVERIFY2(line.find(kKey) == std::string::npos, line.c_str());
            QVERIFY2(line.find("url-password") == std::string::npos, line.c_str());
        }
        QVERIFY(vlm.describe().find("url-password") == std::string::npos);
    }

    void emptyRequestsAreRefusedBeforeSending() {
        OpenAiServer server;
        RemoteVlm vlm(config_for(server));
        planner::Request empty;
        QVERIFY(error_of(vlm, empty).find("no messages") != std::string::npos);
        planner::Request blank = text_request();
        blank.messages[0].parts.push_back(
            planner::ContentPart::of_image(std::make_shared<vision::Frame>()));
        QVERIFY(error_of(vlm, blank).find("empty screenshot") != std::string::npos);
        RemoteVlm nameless(config_for(server, ""));
        QVERIFY(error_of(nameless, text_request()).find("no model name") != std::string::npos);
        QCOMPARE(server.chat_requests().size(), std::size_t(0));
    }

    // ---- timeouts and cancellation -----------------------------------------------------------

    void idleAndOverallTimeouts() {
        OpenAiServer server;
        server.push(ScriptedReply::drip({"a", "b", "c"}, 800ms));
        RemoteConfig c = config_for(server);
        c.idle_timeout = 200ms;
        RemoteVlm idle(c);
        const auto t0 = Clock::now();
        const Outcome o = call(idle, text_request());
        QVERIFY2(o.error.find("stalled: no data for 0.2 s (idle timeout) after 1 characters") !=
                     std::string::npos,
                 o.error.c_str());
        QVERIFY(ms_between(t0, Clock::now()) < 700);

        ScriptedReply slow_start = ScriptedReply::answer("x");
        slow_start.delay = 2s;
        server.push(slow_start);
        const Outcome o2 = call(idle, text_request());
        QVERIFY2(o2.error.find("sent nothing for 0.2 s") != std::string::npos, o2.error.c_str());

        server.push(ScriptedReply::drip(std::vector<std::string>(40, "x"), 50ms));
        RemoteConfig c2 = config_for(server);
        c2.overall_timeout = 300ms;
        RemoteVlm overall(c2);
        const auto t1 = Clock::now();
        const Outcome o3 = call(overall, text_request());
        QVERIFY2(o3.error.find("took longer than 0.3 s (overall timeout)") != std::string::npos,
                 o3.error.c_str());
        QVERIFY(ms_between(t1, Clock::now()) < 600);
    }

    void cancelWhileTheServerThinks() {
        OpenAiServer server;
        ScriptedReply slow = ScriptedReply::answer("never seen");
        slow.delay = 5s;
        server.push(slow);
        RemoteVlm vlm(config_for(server));
        CancelToken token;
        Canceller canceller(token, after(150ms));
        const Outcome o = call(vlm, text_request(), {}, &token);
        const double latency = ms_between(canceller.cancelled_at, Clock::now());
        qInfo() << "cancel latency while waiting for the first byte:" << latency << "ms";
        QVERIFY2(o.error.empty(), o.error.c_str());
        QCOMPARE(o.response.finish_reason, std::string("cancelled"));
        QVERIFY2(latency < 100, qPrintable(QString::number(latency)));
        QVERIFY(o.response.text.empty());
    }

    void cancelMidStream() {
        OpenAiServer server;
        server.push(ScriptedReply::drip(std::vector<std::string>(100, "tok "), 30ms));
        RemoteVlm vlm(config_for(server));
        CancelToken token;
        std::atomic<int> received{0};
        Canceller canceller(token, [&] { return received.load() >= 5; });
        const auto t0 = Clock::now();
        Response response = vlm.generate(
            text_request(), {}, [&](std::string_view) { ++received; }, token);
        const double latency = ms_between(canceller.cancelled_at, Clock::now());
        qInfo() << "cancel latency mid-stream:" << latency << "ms";
        QCOMPARE(response.finish_reason, std::string("cancelled"));
        QVERIFY2(latency < 100, qPrintable(QString::number(latency)));
        QVERIFY(response.text.starts_with("tok tok tok tok tok "));
        QVERIFY(response.text.size() < 100 * 4);
        QVERIFY(ms_between(t0, Clock::now()) < 1500);
        QTRY_VERIFY_WITH_TIMEOUT(server.abandoned_connections() >= 1,
                                 3000);  // the server saw us hang up
    }

    void cancelDuringBackoff() {
        OpenAiServer server;
        server.set_default(ScriptedReply::error(503, "busy"));
        RemoteConfig c = config_for(server);
        c.retry.base_delay = 10s;
        RemoteVlm vlm(c);
        CancelToken token;
        Canceller canceller(token, [&] { return server.chat_requests().size() >= 1; });
        const Outcome o = call(vlm, text_request(), {}, &token);
        const double latency = ms_between(canceller.cancelled_at, Clock::now());
        qInfo() << "cancel latency during backoff:" << latency << "ms";
        QVERIFY2(o.error.empty(), o.error.c_str());
        QCOMPARE(o.response.finish_reason, std::string("cancelled"));
        QVERIFY2(latency < 100, qPrintable(QString::number(latency)));
        QCOMPARE(server.chat_requests().size(), std::size_t(1));
    }

    void alreadyCancelledSendsNothing() {
        OpenAiServer server;
        RemoteVlm vlm(config_for(server));
        CancelToken token;
        token.cancel();
        const Outcome o = call(vlm, text_request(), {}, &token);
        QCOMPARE(o.response.finish_reason, std::string("cancelled"));
        QCOMPARE(server.requests().size(), std::size_t(0));
    }

    // ---- the scripted-model mode other suites use --------------------------------------------

    void handlerComputesAnswersFromTheRequest() {
        OpenAiServer server;
        server.set_handler([](const testing::RecordedRequest& r) {
            return ScriptedReply::answer("saw " + std::to_string(r.image_urls().size()) +
                                         " images; said: " + r.all_text());
        });
        RemoteVlm vlm(config_for(server));
        const Outcome o = call(vlm, screenshots_request(2));
        QVERIFY2(o.error.empty(), o.error.c_str());
        QCOMPARE(o.response.text,
                 std::string("saw 2 images; said: You are a GUI agent.\nAction: wait()"));
    }
};

QTEST_GUILESS_MAIN(RemoteVlmTest)
#include "test_remote_vlm.moc"
