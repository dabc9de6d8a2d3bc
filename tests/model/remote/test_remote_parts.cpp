// The remote client's small parts on their own: endpoint normalisation, the SSE parser, base64,
// Retry-After, backoff, error-message pieces, redaction, the family → resize table and the
// coordinate readout from top_logprobs.
#include <QtTest>

#include <cmath>
#include <ctime>
#include <random>
#include <set>

#include <span>

#include "model/remote/coordinate_logprobs.h"
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

// A token as a server reports it, with alternatives given as probabilities.
remote::TokenLogprobs token(std::string text, double p = 1.0,
                            std::vector<std::pair<std::string, double>> alternatives = {}) {
    remote::TokenLogprobs t{std::move(text), std::log(p), {}};
    t.top.emplace_back(t.token, t.logprob);
    for (auto& [alt, q] : alternatives) t.top.emplace_back(alt, std::log(q));
    return t;
}

// Everything a readout shows for the tokens, fed one by one, then finished.
std::string read_all(remote::TextCoordinateReadout& readout,
                     const std::vector<remote::TokenLogprobs>& tokens) {
    std::string out;
    for (const auto& t : tokens) out += readout.feed(t);
    return out + readout.finish();
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

    // x: 120 (0.3), 124 (0.3), 126 (0.2), 150 outside the window → (36 + 37.2 + 25.2) / 0.8 = 123;
    // y: 45 and 41 at 0.5 each → 43.
    void coordinateReadoutMovesBoxNumbers() {
        const std::vector<remote::TokenLogprobs> answer = {
            token("Action: click(start_box='"),
            token("<|box_start|>"),
            token("("),
            token("120", 0.3, {{"124", 0.3}, {"126", 0.2}, {"150", 0.1}, {"(", 0.05}}),
            token(","),
            token("45", 0.5, {{"41", 0.5}}),
            token(")"),
            token("<|box_end|>"),
            token("')")};
        remote::TextCoordinateReadout readout(16);
        QCOMPARE(read_all(readout, answer),
                 std::string("Action: click(start_box='<|box_start|>(123,43)<|box_end|>')"));
        QCOMPARE(readout.moved(), 2);
        // Without the special tokens (a server that skips them), the box is found by its text.
        const std::vector<remote::TokenLogprobs> bare = {
            token("click(start_box='("), token("120", 0.3, {{"124", 0.3}, {"126", 0.2}}),
            token(","), token("45", 0.5, {{"41", 0.5}}), token(")')")};
        remote::TextCoordinateReadout plain(16);
        QCOMPARE(read_all(plain, bare), std::string("click(start_box='(123,43)')"));
        // A window of 2 keeps only 120 itself of the x alternatives; 41 is out of it too.
        remote::TextCoordinateReadout narrow(2);
        QCOMPARE(read_all(narrow, bare), std::string("click(start_box='(120,45)')"));
        remote::TextCoordinateReadout off(0);
        QCOMPARE(read_all(off, bare), std::string("click(start_box='(120,45)')"));
    }

    void coordinateReadoutLeavesOtherNumbers() {
        // Digit by digit (Qwen's tokenizers): no token is a whole number, nothing moves.
        const std::vector<remote::TokenLogprobs> digits = {token("click(start_box='("),
                                                           token("1", 0.5, {{"2", 0.5}}),
                                                           token("2", 0.5, {{"9", 0.5}}),
                                                           token("0", 0.5, {{"9", 0.5}}),
                                                           token(","),
                                                           token("4", 0.5, {{"9", 0.5}}),
                                                           token("5", 0.5, {{"0", 0.5}}),
                                                           token(")')")};
        remote::TextCoordinateReadout readout(16);
        QCOMPARE(read_all(readout, digits), std::string("click(start_box='(120,45)')"));
        QCOMPARE(readout.moved(), 0);
        // A typed number and a number after the box are never coordinates.
        const std::vector<remote::TokenLogprobs> typed = {
            token("type(content='"), token("120", 0.3, {{"124", 0.7}}), token("') 7"),
            token("30", 0.3, {{"34", 0.7}})};
        remote::TextCoordinateReadout other(16);
        QCOMPARE(read_all(other, typed), std::string("type(content='120') 730"));
        // Round half to even: 10.5 → 10, 11.5 → 12.
        const std::vector<remote::TokenLogprobs> halves = {
            token("<|box_start|>("), token("10", 0.5, {{"11", 0.5}}), token(","),
            token("11", 0.5, {{"12", 0.5}}), token(")")};
        remote::TextCoordinateReadout even(16);
        QCOMPARE(read_all(even, halves), std::string("<|box_start|>(10,12)"));
        // A held number followed by text without logprobs is shown unchanged.
        remote::TextCoordinateReadout cut(16);
        std::string shown = cut.feed(token("<|box_start|>("));
        shown += cut.feed(token("120", 0.3, {{"124", 0.7}}));
        QCOMPARE(shown, std::string("<|box_start|>("));
        shown += cut.pass(",45)");
        QCOMPARE(shown, std::string("<|box_start|>(120,45)"));
        QCOMPARE(cut.moved(), 0);
    }

    void tokenLogprobsShape() {
        const auto good = nlohmann::json::parse(R"({"logprobs": {"content": [
            {"token": "12", "logprob": -0.5, "top_logprobs": [{"token": "13", "logprob": -1.0}]}]}})");
        const auto tokens = remote::token_logprobs(good);
        QVERIFY(tokens && tokens->size() == 1);
        QCOMPARE((*tokens)[0].token, std::string("12"));
        QCOMPARE((*tokens)[0].top.size(), std::size_t(1));
        QVERIFY(!remote::token_logprobs(nlohmann::json::parse(R"({"logprobs": null})")));
        QVERIFY(!remote::token_logprobs(nlohmann::json::parse(R"({"delta": {}})")));
        QVERIFY(!remote::token_logprobs(
            nlohmann::json::parse(R"({"logprobs": {"content": [{"token": 12}]}})")));
        QCOMPARE(remote::top_logprobs_for(16), 20);
        QCOMPARE(remote::top_logprobs_for(2), 5);
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
