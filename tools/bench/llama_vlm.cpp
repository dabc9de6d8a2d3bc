// Developer tool for tools/bench/vlm_vs_llama_cpp.sh, built against llama.cpp's libllama and
// libmtmd by tools/bench/build_llama_cpp.sh (not part of the Deskpilot build): one image plus a
// text prompt through llama.cpp's multimodal path, timed the way `deskpilot generate --image`
// times it, so both engines answer the same question.
//   llama_vlm MODEL.gguf MMPROJ.gguf IMAGE PROMPT_FILE [--threads N] [--max-tokens N]
//             [--image-max-tokens N] [--logits-out FILE.f32] [--embd-out FILE.f32]
// The prompt is one user turn, the image first, in Qwen3-VL's chat layout (the layout
// Deskpilot's format_chat writes): mtmd adds <|vision_start|>/<|vision_end|> around the image.
// Greedy decoding, stopping at <|im_end|> or <|endoftext|> like Deskpilot. The image file is read
// before the clock starts (Deskpilot reads it before generate() too); the time to first token
// covers preprocessing, the vision tower, the prefill and the first sample. The generated text
// goes to stdout (special tokens skipped), one JSON line of timings to stderr. --embd-out writes
// the image's embeddings as the vision tower hands them to the decoder (raw float32, per image
// token the merger's 2048 values, then each DeepStack level's).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "llama.h"
#include "mtmd-helper.h"
#include "mtmd.h"

namespace {

using Clock = std::chrono::steady_clock;
double ms(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

int greedy(const float* logits, int n) {
    int best = 0;
    for (int i = 1; i < n; ++i)
        if (logits[i] > logits[best]) best = i;
    return best;
}

void quiet(ggml_log_level level, const char* text, void*) {
    if (level >= GGML_LOG_LEVEL_WARN) std::fputs(text, stderr);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr,
                     "usage: llama_vlm MODEL.gguf MMPROJ.gguf IMAGE PROMPT_FILE [--threads N] "
                     "[--max-tokens N] [--image-max-tokens N] [--logits-out FILE.f32] "
                     "[--embd-out FILE.f32]\n");
        return 2;
    }
    int threads = 2, max_tokens = 32, image_max_tokens = 0;
    std::string logits_out, embd_out;
    for (int i = 5; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--threads")
            threads = std::atoi(argv[i + 1]);
        else if (a == "--max-tokens")
            max_tokens = std::atoi(argv[i + 1]);
        else if (a == "--image-max-tokens")
            image_max_tokens = std::atoi(argv[i + 1]);
        else if (a == "--logits-out")
            logits_out = argv[i + 1];
        else if (a == "--embd-out")
            embd_out = argv[i + 1];
        else {
            std::fprintf(stderr, "llama_vlm: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    std::ifstream pf(argv[4]);
    if (!pf) {
        std::fprintf(stderr, "%s: cannot read the prompt\n", argv[4]);
        return 1;
    }
    std::stringstream ps;
    ps << pf.rdbuf();

    llama_log_set(quiet, nullptr);
    mtmd_helper_log_set(quiet, nullptr);
    llama_backend_init();
    llama_model* model = llama_model_load_from_file(argv[1], llama_model_default_params());
    if (!model) {
        std::fprintf(stderr, "%s: cannot load\n", argv[1]);
        return 1;
    }
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 8192;
    cp.n_batch = 2048;  // llama-mtmd-cli's defaults
    cp.n_ubatch = 512;
    cp.n_threads = cp.n_threads_batch = threads;
    llama_context* lctx = llama_init_from_model(model, cp);
    mtmd_context_params mp = mtmd_context_params_default();
    mp.use_gpu = false;
    mp.n_threads = threads;
    mp.print_timings = false;
    // mtmd's warm-up only reserves the vision graph's buffers (no encode); it also settles
    // flash attention "auto" to on where the backend supports it, as llama-mtmd-cli does.
    mp.warmup = true;
    mp.image_max_tokens = image_max_tokens;
    mtmd_context* mctx = mtmd_init_from_file(argv[2], model, mp);
    if (!lctx || !mctx) {
        std::fprintf(stderr, "%s: cannot set up the multimodal context\n", argv[2]);
        return 1;
    }
    mtmd_bitmap* bitmap =
        mtmd_helper_bitmap_init_from_file(mctx, argv[3], false, mtmd_helper_init_opt_default())
            .bitmap;
    if (!bitmap) {
        std::fprintf(stderr, "%s: cannot read the image\n", argv[3]);
        return 1;
    }
    const std::string text = std::string("<|im_start|>user\n") + mtmd_default_marker() + ps.str() +
                             "<|im_end|>\n<|im_start|>assistant\n";
    const llama_vocab* vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);

    const auto t0 = Clock::now();
    mtmd_input_chunks* chunks = mtmd_input_chunks_init();
    const mtmd_input_text in{text.c_str(), text.size(), /*add_special=*/false,
                             /*parse_special=*/true};
    const mtmd_bitmap* bitmaps[] = {bitmap};
    if (mtmd_tokenize(mctx, chunks, &in, bitmaps, 1) != 0) {
        std::fprintf(stderr, "mtmd_tokenize failed\n");
        return 1;
    }
    const auto t_pre = Clock::now();
    double vision_ms = 0;
    long image_tokens = 0;
    llama_pos n_past = 0;
    for (size_t i = 0; i < mtmd_input_chunks_size(chunks); ++i) {
        const mtmd_input_chunk* c = mtmd_input_chunks_get(chunks, i);
        const bool last = i + 1 == mtmd_input_chunks_size(chunks);
        if (mtmd_input_chunk_get_type(c) == MTMD_INPUT_CHUNK_TYPE_IMAGE) {
            const auto a = Clock::now();
            if (mtmd_encode_chunk(mctx, c) != 0) {
                std::fprintf(stderr, "mtmd_encode_chunk failed\n");
                return 1;
            }
            vision_ms += ms(a, Clock::now());
            image_tokens += long(mtmd_input_chunk_get_n_tokens(c));
            if (!embd_out.empty()) {
                const size_t n =
                    mtmd_input_chunk_get_n_tokens(c) * size_t(llama_model_n_embd_inp(model));
                FILE* f = std::fopen(embd_out.c_str(), "wb");
                if (!f || std::fwrite(mtmd_get_output_embd(mctx), sizeof(float), n, f) != n) {
                    std::fprintf(stderr, "%s: cannot write\n", embd_out.c_str());
                    return 1;
                }
                std::fclose(f);
            }
            if (mtmd_helper_decode_image_chunk(mctx, lctx, c, mtmd_get_output_embd(mctx), n_past, 0,
                                               int(cp.n_batch), &n_past, nullptr, nullptr) != 0) {
                std::fprintf(stderr, "decoding the image embeddings failed\n");
                return 1;
            }
        } else if (mtmd_helper_eval_chunk_single(mctx, lctx, c, n_past, 0, int(cp.n_batch), last,
                                                 &n_past) != 0) {
            std::fprintf(stderr, "decoding the text failed\n");
            return 1;
        }
    }
    const long prompt_tokens = long(mtmd_helper_get_n_tokens(chunks));
    const float* logits = llama_get_logits_ith(lctx, -1);
    if (!logits_out.empty()) {
        FILE* f = std::fopen(logits_out.c_str(), "wb");
        if (!f || std::fwrite(logits, sizeof(float), size_t(n_vocab), f) != size_t(n_vocab)) {
            std::fprintf(stderr, "%s: cannot write\n", logits_out.c_str());
            return 1;
        }
        std::fclose(f);
    }
    llama_token id = greedy(logits, n_vocab);
    const auto t_first = Clock::now();

    std::vector<llama_token> stops;
    for (const char* s : {"<|im_end|>", "<|endoftext|>"}) {
        llama_token t;
        if (llama_tokenize(vocab, s, int(std::strlen(s)), &t, 1, false, true) == 1)
            stops.push_back(t);
    }
    int generated = 0;
    std::string out;
    for (;;) {
        ++generated;
        bool stop = false;
        for (llama_token s : stops) stop |= id == s;
        if (stop) break;
        char piece[256];
        const int n = llama_token_to_piece(vocab, id, piece, sizeof piece, 0, false);
        if (n > 0) out.append(piece, size_t(n));
        if (generated >= max_tokens) break;
        llama_batch b = llama_batch_get_one(&id, 1);
        if (llama_decode(lctx, b) != 0) {
            std::fprintf(stderr, "llama_decode failed\n");
            return 1;
        }
        id = greedy(llama_get_logits_ith(lctx, -1), n_vocab);
    }
    const auto t_end = Clock::now();
    std::printf("%s\n", out.c_str());
    std::fprintf(stderr,
                 "{\"engine\":\"llama.cpp\",\"threads\":%d,\"prompt_tokens\":%ld,"
                 "\"image_tokens\":%ld,\"ttft_ms\":%.1f,\"preprocess_ms\":%.1f,"
                 "\"vision_ms\":%.1f,\"prefill_ms\":%.1f,\"completion_tokens\":%d,"
                 "\"decode_ms\":%.1f}\n",
                 threads, prompt_tokens, image_tokens, ms(t0, t_first), ms(t0, t_pre), vision_ms,
                 ms(t_pre, t_first) - vision_ms, generated, ms(t_first, t_end));
    mtmd_bitmap_free(bitmap);
    mtmd_input_chunks_free(chunks);
    mtmd_free(mctx);
    llama_free(lctx);
    llama_model_free(model);
    return 0;
}
