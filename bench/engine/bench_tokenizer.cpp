// Tokenizer throughput on the golden corpus (tests/data/engine/tokenizer/golden.json), one
// thread, encode and decode. tools/bench/tokenizer_vs_tokenizers.sh runs this and the
// `tokenizers` library on the same corpus in one go and prints the ratio.
//   bench_engine_tokenizer TOKENIZER_JSON[.gz] CORPUS_JSON [repeats]
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "gz_file.h"
#include "model/engine/tokenizer.h"

using namespace deskpilot::model::engine;

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s TOKENIZER_JSON[.gz] CORPUS_JSON [repeats]\n", argv[0]);
        return 2;
    }
    const int repeats = argc > 3 ? std::atoi(argv[3]) : 20;
    const Tokenizer tok = Tokenizer::from_json(deskpilot::bench::read_maybe_gz(argv[1]), argv[1]);
    std::ifstream in(argv[2]);
    const auto doc = nlohmann::json::parse(in);
    std::vector<std::string> texts;
    std::size_t bytes = 0;
    for (const auto& c : doc["cases"]) {
        texts.push_back(c["text"]);
        bytes += texts.back().size();
    }
    using clock = std::chrono::steady_clock;
    std::size_t tokens = 0;
    std::vector<std::vector<TokenId>> ids(texts.size());
    for (std::size_t i = 0; i < texts.size(); ++i) ids[i] = tok.encode(texts[i]);  // warm-up
    auto t0 = clock::now();
    for (int r = 0; r < repeats; ++r)
        for (std::size_t i = 0; i < texts.size(); ++i)
            tokens += (ids[i] = tok.encode(texts[i])).size();
    const double enc = std::chrono::duration<double>(clock::now() - t0).count();
    t0 = clock::now();
    std::size_t out_bytes = 0;
    for (int r = 0; r < repeats; ++r)
        for (const auto& v : ids) out_bytes += tok.decode(v).size();
    const double dec = std::chrono::duration<double>(clock::now() - t0).count();
    std::printf(
        "{\"impl\": \"deskpilot\", \"encode_mb_s\": %.3f, \"encode_tokens_s\": %.0f, "
        "\"decode_mb_s\": %.3f, \"strings\": %zu, \"repeats\": %d}\n",
        double(bytes) * repeats / enc / 1e6, double(tokens) / enc, double(out_bytes) / dec / 1e6,
        texts.size(), repeats);
    return 0;
}
