// Developer tool for tools/bench/moe_vs_llama_cpp.sh, built against llama.cpp by
// tools/bench/build_llama_cpp.sh (not part of the Deskpilot build): runs token ids through a
// GGUF model with llama.cpp and writes the last position's logits as raw float32, so the harness
// can check that the converted model computes what Deskpilot's engine computes.
//   llama_logits MODEL.gguf OUT.f32 ID [ID...]
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "llama.h"

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: llama_logits MODEL.gguf OUT.f32 ID [ID...]\n");
        return 2;
    }
    llama_backend_init();
    llama_model* model = llama_model_load_from_file(argv[1], llama_model_default_params());
    if (!model) {
        std::fprintf(stderr, "%s: cannot load\n", argv[1]);
        return 1;
    }
    std::vector<llama_token> ids;
    for (int i = 3; i < argc; ++i) ids.push_back(llama_token(std::atoi(argv[i])));
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = ids.size() < 256 ? 256 : uint32_t(ids.size());
    llama_context* ctx = llama_init_from_model(model, cp);
    if (!ctx || llama_decode(ctx, llama_batch_get_one(ids.data(), int(ids.size()))) != 0) {
        std::fprintf(stderr, "llama_decode failed\n");
        return 1;
    }
    const float* logits = llama_get_logits_ith(ctx, -1);
    const int n = llama_vocab_n_tokens(llama_model_get_vocab(model));
    FILE* f = std::fopen(argv[2], "wb");
    if (!f || std::fwrite(logits, sizeof(float), size_t(n), f) != size_t(n)) {
        std::fprintf(stderr, "%s: cannot write\n", argv[2]);
        return 1;
    }
    std::fclose(f);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
