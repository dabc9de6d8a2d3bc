#include "model/remote/messages.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <regex>

namespace deskpilot::model::remote {

namespace {

std::string string_of(const nlohmann::json& j) {
    if (j.is_string()) return j.get<std::string>();
    if (j.is_null()) return {};
    return j.dump();
}

}  // namespace

std::string server_message(std::string_view body) {
    const auto json = nlohmann::json::parse(body, nullptr, false);
    if (!json.is_discarded() && json.is_object()) {
        if (const auto e = json.find("error"); e != json.end()) {
            if (e->is_object()) {
                if (const auto m = e->find("message"); m != e->end()) return string_of(*m);
                return e->dump();
            }
            if (!e->is_null()) return string_of(*e);
        }
        for (const char* key : {"message", "detail"})
            if (const auto m = json.find(key); m != json.end()) return string_of(*m);
    }
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return {};
    return first_bytes(body);
}

std::string first_bytes(std::string_view body, std::size_t limit) {
    std::string out = "'";
    const std::size_t shown = std::min(body.size(), limit);
    for (std::size_t i = 0; i < shown; ++i) {
        const auto c = static_cast<unsigned char>(body[i]);
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\\') {
            out += "\\\\";
        } else if (c < 0x20 || c >= 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    out += shown < body.size() ? "…'" : "'";
    out += " (" + std::to_string(body.size()) + (body.size() == 1 ? " byte)" : " bytes)");
    return out;
}

std::optional<std::string> bad_request_hint(std::string_view message, int images_sent) {
    const std::string text(message);
    // vLLM: "At most 1 image(s) may be provided in one request." (≤0.7) / "... in one prompt."
    static const std::regex vllm_limit(
        R"(At most (\d+) image\(s\) may be provided in one (request|prompt))", std::regex::icase);
    std::smatch m;
    if (std::regex_search(text, m, vllm_limit) ||
        text.find("limit-mm-per-prompt") != std::string::npos ||
        text.find("limit_mm_per_prompt") != std::string::npos) {
        std::string hint = "this request carried " + std::to_string(images_sent) + " screenshot" +
                           (images_sent == 1 ? "" : "s");
        if (!m.empty()) hint += " but the server accepts at most " + m[1].str() + " per prompt";
        hint += "; lower --history (the number of screenshots kept in the conversation)";
        if (!m.empty()) hint += " to " + m[1].str();
        hint += ", or restart vLLM with --limit-mm-per-prompt '{\"image\": " +
                std::to_string(std::max(images_sent, 5)) + "}'";
        return hint;
    }
    static const std::regex context(
        R"(maximum context length|context length|context window|too many tokens|exceeds the (available )?context)",
        std::regex::icase);
    if (std::regex_search(text, context)) {
        return "the conversation is longer than the model's context (" +
               std::to_string(images_sent) +
               " screenshots sent); lower --history or --max-tokens, or raise the server's context "
               "length (vLLM --max-model-len, llama.cpp --ctx-size, Ollama num_ctx)";
    }
    return std::nullopt;
}

std::string redact(std::string text, const std::vector<std::string>& secrets) {
    for (const auto& secret : secrets) {
        if (secret.empty()) continue;
        for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos))
            text.replace(pos, secret.size(), "[redacted]");
    }
    return text;
}

}  // namespace deskpilot::model::remote
