// The remote client's small parts on their own: endpoint normalisation, the SSE parser, base64,
// Retry-After, backoff, error-message pieces, redaction and the family → resize table.
#include <QtTest>

#include <ctime>
#include <random>
#include <set>

#include <span>

#include "model/remote/endpoint.h"
#include "model/remote/family_resize.h"
#include "model/remote/json_text.h"
#include "model/remote/messages.h"
#include "model/remote/remote_vlm.h"
#include "model/remote/retry.h"
#include "model/remote/sse.h"
#include "openai_server.h"
#include "vision/base64.h"

using namespace deskpilot;
using namespace deskpilot::model;
using namespace std::chrono_literals;

namespace {
std::string vision_base64(std::span<const std::uint8_t> bytes) {
    return deskpilot::vision::base64_encode(bytes.data(), bytes.size());
}
}  // namespace

class RemotePartsTest : public QObject {
    Q_OBJECT
  private slots:
    void endpointWithOrWithoutV1() {
        const std::pair<const char*, const char*> cases[] = {
            {"http://host:8000", "http://host:8000/v1"},
            {"http://host:8000/", "http://host:8000/v1"},
            {"http://host:8000/v1", "http://host:8000/v1"},
            {"http://host:8000/v1/", "http://host:8000/v1"},
            {"http://host:8000/v1/chat/completions", "http://host:8000/v1"},
            {"http://host:8000/v1/models", "http://host:8000/v1"},
            {"  https://api.example.com/api/v3 ", "https://api.example.com/api/v3"},
            {"http://localhost:11434/v1/", "http://localhost:11434/v1"},
        };
        for (const auto& [given, base] : cases) {
            const auto e = remote::parse_endpoint(given);
            QCOMPARE(QString::fromStdString(e.base), QString(base));
            QCOMPARE(QString::fromStdString(e.url("/chat/completions")),
                     QString(base) + "/chat/completions");
        }
        const auto q =
            remote::parse_endpoint("https://h/openai/deployments/x?api-version=2024-06-01");
        QCOMPARE(QString::fromStdString(q.url("/chat/completions")),
                 QString("https://h/openai/deployments/x/chat/completions?api-version=2024-06-01"));
        QCOMPARE(QString::fromStdString(q.host), QString("h"));
    }

    void endpointUserInfoStaysOutOfMessages() {
        const auto e = remote::parse_endpoint("http://me:pa55word@host:9000");
        QCOMPARE(QString::fromStdString(e.display), QString("http://host:9000/v1"));
        QCOMPARE(QString::fromStdString(e.base), QString("http://me:pa55word@host:9000/v1"));
        QCOMPARE(QString::fromStdString(e.password), QString("pa55word"));
        try {
            remote::parse_endpoint("http://me:pa55word@");
            QFAIL("accepted a URL without a host");
        } catch (const ModelError& err) {
            QVERIFY2(!QString(err.what()).contains("pa55word"), err.what());
        }
    }

    void badEndpointsAreNamed() {
        for (const char* bad : {"", "localhost:8000", "ftp://host/v1", "http://",
                                "http://host:99999999/v1", "http://host/v1#frag"}) {
            try {
                remote::parse_endpoint(bad);
                QFAIL(qPrintable(QString("accepted '%1'").arg(bad)));
            } catch (const ModelError& e) {
                QVERIFY2(QString(e.what()).startsWith("endpoint"), e.what());
            }
        }
    }

    void sseParserAnySplit() {
        const std::string stream =
            ": keep-alive\r\n\r\ndata: {\"a\":1}\r\n\r\nevent: x\ndata: line1\ndata: "
            "line2\n\ndata:{\"b\":2}\r\rdata: [DONE]\n\n";
        const std::vector<std::string> expected = {"{\"a\":1}", "line1\nline2", "{\"b\":2}",
                                                   "[DONE]"};
        for (std::size_t split = 0; split <= stream.size(); ++split) {
            std::vector<std::string> events;
            remote::SseParser parser([&](std::string_view d) { events.emplace_back(d); });
            parser.feed(std::string_view(stream).substr(0, split));
            parser.feed(std::string_view(stream).substr(split));
            parser.finish();
            QCOMPARE(events, expected);
        }
        // One byte at a time.
        std::vector<std::string> events;
        remote::SseParser parser([&](std::string_view d) { events.emplace_back(d); });
        for (char c : stream) parser.feed(std::string_view(&c, 1));
        QCOMPARE(events, expected);
    }

    void sseParserFinishDispatchesALastEventWithoutBlankLine() {
        std::vector<std::string> events;
        remote::SseParser parser([&](std::string_view d) { events.emplace_back(d); });
        parser.feed("data: tail");
        QVERIFY(events.empty());
        parser.finish();
        QCOMPARE(events, std::vector<std::string>{"tail"});
    }

    void jsonTextIsByteIdenticalToDump() {
        std::mt19937 rng(11);
        const std::vector<std::string> pieces = {"data:image/png;base64,iVBORw0KGgo=",
                                                 "plain",
                                                 "quote \" in",
                                                 "back\\slash",
                                                 "tab\tnew\nline",
                                                 "Grüße 世界 ✓",
                                                 "\x01ctl",
                                                 std::string(1, '\x7f'),
                                                 "",
                                                 "a/b+c="};
        for (int round = 0; round < 200; ++round) {
            nlohmann::json body = {{"model", pieces[rng() % pieces.size()]},
                                   {"n", static_cast<int>(rng() % 1000) - 500},
                                   {"t", (rng() % 1000) / 7.0},
                                   {"flag", rng() % 2 == 0},
                                   {"none", nullptr}};
            nlohmann::json messages = nlohmann::json::array();
            for (int m = 0; m < 4; ++m)
                messages.push_back(
                    {{pieces[rng() % pieces.size()], pieces[rng() % pieces.size()]},
                     {"content", nlohmann::json::array({pieces[rng() % pieces.size()], m})}});
            body["messages"] = messages;
            QCOMPARE(remote::to_json_text(body),
                     body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        }
    }

    void base64KnownVectorsAndRoundTrip() {
        auto enc = [](std::string_view s) {
            return vision_base64({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
        };
        QCOMPARE(enc(""), std::string(""));
        QCOMPARE(enc("f"), std::string("Zg=="));
        QCOMPARE(enc("fo"), std::string("Zm8="));
        QCOMPARE(enc("foo"), std::string("Zm9v"));
        QCOMPARE(enc("foobar"), std::string("Zm9vYmFy"));
        std::mt19937 rng(5);
        for (int n = 0; n < 70; ++n) {
            std::vector<std::uint8_t> bytes(n);
            for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
            QCOMPARE(*testing::decode_base64(vision_base64(bytes)), bytes);
        }
    }

    void retryAfterForms() {
        QCOMPARE(remote::parse_retry_after("3"), std::optional(3000ms));
        QCOMPARE(remote::parse_retry_after(" 0 "), std::optional(0ms));
        QCOMPARE(remote::parse_retry_after("1.5"), std::optional(1500ms));
        QVERIFY(!remote::parse_retry_after(""));
        QVERIFY(!remote::parse_retry_after("soon"));
        QVERIFY(!remote::parse_retry_after("-4"));
        QVERIFY(!remote::parse_retry_after("3s"));
        // An HTTP date in the past means "now".
        QCOMPARE(remote::parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), std::optional(0ms));
        // One in the future: about that far away.
        const std::time_t later = std::time(nullptr) + 30;
        char date[64];
        std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", std::gmtime(&later));
        const auto wait = remote::parse_retry_after(date);
        QVERIFY(wait && *wait >= 28s && *wait <= 31s);
    }

    void backoffDoublesWithJitterAndCap() {
        remote::RetryPolicy policy;
        policy.base_delay = 100ms;
        policy.max_delay = 1000ms;
        std::mt19937_64 rng(1);
        std::set<long long> seen;
        for (int i = 0; i < 200; ++i) {
            for (int retry = 0; retry < 6; ++retry) {
                const auto d = remote::backoff_delay(policy, retry, rng);
                const long long full = std::min<long long>(1000, 100LL << retry);
                QVERIFY2(d.count() >= full / 2 && d.count() <= full,
                         qPrintable(QString::number(d.count())));
                if (retry == 0) seen.insert(d.count());
            }
        }
        QVERIFY2(seen.size() > 20, "no jitter");
    }

    void serverMessageLayouts() {
        QCOMPARE(remote::server_message(R"({"error":{"message":"bad thing","type":"x"}})"),
                 std::string("bad thing"));
        QCOMPARE(remote::server_message(R"({"object":"error","message":"old vllm"})"),
                 std::string("old vllm"));
        QCOMPARE(remote::server_message(R"({"error":"ollama says no"})"),
                 std::string("ollama says no"));
        QCOMPARE(remote::server_message(R"({"detail":"Not Found"})"), std::string("Not Found"));
        QCOMPARE(remote::server_message(""), std::string(""));
        QCOMPARE(remote::server_message("<html>x</html>"),
                 std::string("'<html>x</html>' (14 bytes)"));
    }

    void firstBytesEscapesAndCuts() {
        QCOMPARE(remote::first_bytes("a\nb\x01"), std::string("'a\\nb\\x01' (4 bytes)"));
        const std::string long_text(500, 'x');
        const std::string shown = remote::first_bytes(long_text, 10);
        QCOMPARE(shown, std::string("'xxxxxxxxxx…' (500 bytes)"));
    }

    void hintsForKnownBadRequests() {
        const auto limit =
            remote::bad_request_hint("At most 2 image(s) may be provided in one request.", 5);
        QVERIFY(limit);
        QVERIFY2(limit->find("5 screenshots") != std::string::npos, limit->c_str());
        QVERIFY2(limit->find("--history") != std::string::npos, limit->c_str());
        QVERIFY2(limit->find("to 2") != std::string::npos, limit->c_str());
        QVERIFY2(limit->find("--limit-mm-per-prompt") != std::string::npos, limit->c_str());
        const auto context = remote::bad_request_hint(
            "This model's maximum context length is 32768 tokens. However, you requested 40000 "
            "tokens",
            5);
        QVERIFY(context && context->find("--history") != std::string::npos);
        QVERIFY(!remote::bad_request_hint("temperature must be non-negative", 1));
    }

    void redactReplacesEverySecret() {
        QCOMPARE(remote::redact("key sk-1 and sk-1 and pw", {"sk-1", "pw", ""}),
                 std::string("key [redacted] and [redacted] and [redacted]"));
    }

    void familyTable() {
        QVERIFY(remote::resize_params_for_family("ui-tars-1.5")->factor == 28);
        QVERIFY(remote::resize_params_for_family("ui-tars-1.5")->max_pixels ==
                vision::kUiTarsResize.max_pixels);
        QVERIFY(remote::resize_params_for_family("qwen2.5-vl")->max_pixels ==
                vision::kQwen25VlResize.max_pixels);
        QVERIFY(remote::resize_params_for_family("qwen3-vl")->factor == 32);
        QVERIFY(remote::resize_params_for_family("doubao")->factor == 28);
        QVERIFY(!remote::resize_params_for_family(""));
        try {
            remote::resize_params_for_family("gpt-99");
            QFAIL("accepted an unknown family");
        } catch (const ModelError& e) {
            QVERIFY2(
                QString(e.what()).contains("gpt-99") && QString(e.what()).contains("ui-tars-1.5"),
                e.what());
        }
    }

    void headerOption() {
        QCOMPARE(remote::parse_header_option("X-Org:  acme "),
                 (std::pair<std::string, std::string>{"X-Org", "acme"}));
        QVERIFY_THROWS_EXCEPTION(ModelError, remote::parse_header_option("no colon"));
        try {
            remote::parse_header_option("Authorization Bearer sk-secret-123");
            QFAIL("accepted a header without a colon");
        } catch (const ModelError& e) {
            QVERIFY2(!QString(e.what()).contains("sk-secret-123"), e.what());
            QVERIFY2(QString(e.what()).contains("Authorization"), e.what());
        }
        QVERIFY_THROWS_EXCEPTION(ModelError, remote::parse_header_option(": value"));
    }
};

QTEST_GUILESS_MAIN(RemotePartsTest)
#include "test_remote_parts.moc"
