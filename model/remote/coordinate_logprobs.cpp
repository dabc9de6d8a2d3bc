#include "model/remote/coordinate_logprobs.h"

#include <algorithm>
#include <cstdlib>

#include "model/coordinate_mean.h"

namespace deskpilot::model::remote {

namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// A number as a number-token vocabulary spells it: digits, no leading zero (but "0"), at most 4.
std::optional<int> number_value(std::string_view text) {
    if (text.empty() || text.size() > 4 || !std::all_of(text.begin(), text.end(), is_digit))
        return std::nullopt;
    if (text.size() > 1 && text.front() == '0') return std::nullopt;
    return std::atoi(std::string(text).c_str());
}

}  // namespace

std::optional<std::vector<TokenLogprobs>> token_logprobs(const nlohmann::json& choice) {
    if (!choice.is_object()) return std::nullopt;
    const auto logprobs = choice.find("logprobs");
    if (logprobs == choice.end() || !logprobs->is_object()) return std::nullopt;
    const auto content = logprobs->find("content");
    if (content == logprobs->end() || !content->is_array()) return std::nullopt;
    std::vector<TokenLogprobs> out;
    for (const auto& entry : *content) {
        if (!entry.is_object() || !entry.contains("token") || !entry["token"].is_string() ||
            !entry.contains("logprob") || !entry["logprob"].is_number())
            return std::nullopt;
        TokenLogprobs t{entry["token"].get<std::string>(), entry["logprob"].get<double>(), {}};
        if (const auto top = entry.find("top_logprobs"); top != entry.end() && top->is_array())
            for (const auto& alt : *top)
                if (alt.is_object() && alt.contains("token") && alt["token"].is_string() &&
                    alt.contains("logprob") && alt["logprob"].is_number())
                    t.top.emplace_back(alt["token"].get<std::string>(),
                                       alt["logprob"].get<double>());
        out.push_back(std::move(t));
    }
    return out;
}

int top_logprobs_for(int window) {
    return std::clamp(2 * window + 1, 1, 20);
}

void TextCoordinateReadout::track(std::string_view shown) {
    for (const char c : shown) {
        tail_.push_back(c);
        if (tail_.size() > 32) tail_.erase(0, tail_.size() - 16);
        const std::string_view tail = tail_;
        if (tail.ends_with("<|box_start|>") || tail.ends_with("_box='"))
            in_box_ = true;
        else if (tail.ends_with("<|box_end|>") || c == ')' || c == ']')
            in_box_ = false;
    }
}

std::string TextCoordinateReadout::release(bool whole) {
    if (!held_) return {};
    TokenLogprobs t = std::move(*held_);
    held_.reset();
    std::string text = t.token;
    if (whole) {
        const int value = *number_value(t.token);
        std::vector<std::pair<int, double>> scored = {{value, t.logprob}};
        for (const auto& [alt, logprob] : t.top) {
            const auto v = number_value(alt);
            if (v && *v != value && std::abs(*v - value) <= window_ &&
                std::none_of(scored.begin(), scored.end(),
                             [&](const auto& s) { return s.first == *v; }))
                scored.emplace_back(*v, logprob);
        }
        const int mean = weighted_coordinate(scored);
        if (mean != value) {
            text = std::to_string(mean);
            ++moved_;
        }
    }
    track(text);
    return text;
}

std::string TextCoordinateReadout::feed(const TokenLogprobs& token) {
    if (window_ <= 0) {
        track(token.token);
        return token.token;
    }
    // The next token tells whether the held number was whole.
    std::string out = release(held_ && !(token.token.size() > 0 && is_digit(token.token.front())));
    const bool digit_before = !tail_.empty() && is_digit(tail_.back());
    if (in_box_ && !digit_before && number_value(token.token)) {
        held_ = token;
        return out;
    }
    track(token.token);
    return out + token.token;
}

std::string TextCoordinateReadout::pass(std::string_view text) {
    std::string out = release(false);
    track(text);
    return out + std::string(text);
}

std::string TextCoordinateReadout::finish() {
    return release(true);
}

}  // namespace deskpilot::model::remote
