// What constrained action decoding (engine/action_grammar.h) costs.
//   bench_engine_action_grammar MODEL_DIR SCREENSHOT [repeats] [QWEN3_TOKENIZER_JSON[.gz]]
// 1. End to end: NativeVlm's greedy answer to the agent's grounding request on the screenshot
//    (deskpilot-nano's family, as `deskpilot eval grounding` asks), with
//    the grammar off and on, alternating (so that a busy machine slows both alike); medians of
//    the answer's total time and their ratio. The answers must be equal (the grammar only removes
//    tokens a well-formed answer does not use): the bench says so when they are not.
// 2. The grammar alone: mask() + observe() per token of that answer, with the model's tokenizer
//    and, when given, the 151 669-token Qwen3 one (how it scales to a large vocabulary): on the
//    first answer (each state's allowed set computed) and, the median, on later ones (looked up).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "gz_file.h"
#include "model/engine/action_grammar.h"
#include "model/engine/native_vlm.h"
#include "planner/conversation.h"
#include "planner/family.h"
#include "vision/image_io.h"

using namespace deskpilot;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

struct GrammarCost {
    double first_us = 0, later_us = 0;  // per token: the first pass, the median of the others
};

// Microseconds per token of mask() + observe() over `answer`, on a fresh grammar.
GrammarCost grammar_cost(const model::engine::Tokenizer& tok, const std::string& answer,
                         int repeats) {
    std::vector<std::int32_t> stops;
    for (const char* s : {"<|im_end|>", "<|endoftext|>"})
        if (auto id = tok.token_to_id(s)) stops.push_back(*id);
    model::engine::ActionGrammar grammar(tok, stops);
    const std::vector<std::int32_t> ids = tok.encode(answer);
    std::vector<float> logits(tok.vocab_size());
    std::vector<double> per_token;
    for (int r = 0; r < repeats; ++r) {
        grammar.reset();
        const auto t0 = Clock::now();
        for (std::int32_t id : ids) {
            std::fill(logits.begin(), logits.end(), 0.0f);
            grammar.mask(logits);
            grammar.observe(id);
        }
        per_token.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count() /
                            double(ids.size()));
    }
    const double first = per_token.front();
    per_token.erase(per_token.begin());
    return {first, median(per_token)};
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr,
                     "usage: %s MODEL_DIR SCREENSHOT [repeats] [QWEN3_TOKENIZER_JSON[.gz]]\n",
                     argv[0]);
        return 2;
    }
    const std::string dir = argv[1];
    const int repeats = argc > 3 ? std::max(2, std::atoi(argv[3])) : 9;
    try {
        auto frame = std::make_shared<const vision::Frame>(vision::read_image(argv[2]));
        planner::ConversationOptions options;
        options.prompt.kind = planner::PromptKind::grounding;
        planner::Conversation conversation(*planner::find_family("deskpilot-nano"),
                                           "Click the \"Keep\" button", options);
        conversation.add_screenshot(frame);
        const planner::Request request = conversation.build();
        model::GenerateOptions greedy;
        greedy.temperature = 0;
        greedy.max_tokens = 64;
        model::CancelToken cancel;
        model::NativeVlm off({.model_dir = dir, .threads = 2, .action_grammar = false});
        model::NativeVlm on({.model_dir = dir, .threads = 2, .action_grammar = true});
        std::vector<double> off_ms, on_ms;
        std::string off_text, on_text;
        int tokens = 0;
        for (int r = 0; r < repeats + 1; ++r) {
            const model::Response a = off.generate(request, greedy, {}, cancel);
            const model::Response b = on.generate(request, greedy, {}, cancel);
            if (r == 0) continue;  // warm-up
            off_ms.push_back(a.total_ms);
            on_ms.push_back(b.total_ms);
            off_text = a.text;
            on_text = b.text;
            tokens = b.completion_tokens;
        }
        std::printf("answer (%d tokens): %s\n", tokens, on_text.c_str());
        if (off_text != on_text)
            std::printf("NOTE: the answers differ; without the grammar: %s\n", off_text.c_str());
        const double a = median(off_ms), b = median(on_ms);
        std::printf("end to end, median of %d: grammar off %.1f ms, on %.1f ms, on/off %.3f\n",
                    repeats, a, b, b / a);
        const model::engine::Tokenizer nano =
            model::engine::Tokenizer::from_file(std::string(dir) + "/tokenizer.json");
        const std::string answer =
            "Thought: I need to click the 'Keep' button.\nAction: click("
            "start_box='<|box_start|>(289,190)<|box_end|>')";
        const double per_token_us = 1e3 * a / std::max(tokens, 1);
        const GrammarCost nano_cost = grammar_cost(nano, answer, repeats);
        std::printf(
            "grammar alone, %zu-token vocabulary: %.1f us per token on the first answer, "
            "%.1f on later ones (%.2f%% and %.2f%% of the answer's time per token with "
            "the grammar off)\n",
            nano.vocab_size(), nano_cost.first_us, nano_cost.later_us,
            100.0 * nano_cost.first_us / per_token_us, 100.0 * nano_cost.later_us / per_token_us);
        if (argc > 4) {
            const model::engine::Tokenizer qwen = model::engine::Tokenizer::from_json(
                deskpilot::bench::read_maybe_gz(argv[4]), argv[4]);
            const GrammarCost qwen_cost = grammar_cost(qwen, answer, repeats);
            std::printf(
                "grammar alone, %zu-token vocabulary: %.1f us per token on the first "
                "answer, %.1f on later ones\n",
                qwen.vocab_size(), qwen_cost.first_us, qwen_cost.later_us);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_engine_action_grammar: %s\n", e.what());
        return 1;
    }
    return 0;
}
