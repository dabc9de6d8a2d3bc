// Prefill and decode speed of the CPU decoder on a synthetic Qwen3-MoE at real layer widths
// (hidden 2048, head_dim 128, 32/4 heads, 128 experts top-8, expert width 768), random bf16
// weights in the Hub's fused-expert layout, written once to a safetensors folder.
//   bench_engine_moe_cpu [--dir DIR] [--layers N] [--prompt N] [--decode N] [--depth N]
//                        [--reps N] [--threads N] [--write-only 1]
//                        [--logits-ids N,N,... --logits-out FILE]
// Prints one JSON line: the median prefill tokens/s over --reps runs of a --prompt-token batch
// on an empty cache, and the median decode tokens/s over --reps runs of --decode single-token
// steps after --depth cached tokens (0: an empty cache). These are the tests llama-bench runs as
// ppN and tgN (@ dN); tools/bench/moe_vs_llama_cpp.sh runs both on the same weights.
// --logits-out writes the last position's logits for --logits-ids as raw float32 and exits (the
// harness compares them with llama.cpp's on the converted GGUF).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "model/engine/arch/qwen3_vl_moe.h"
#include "model/engine/cpu/linear.h"
#include "random_checkpoint.h"

using namespace deskpilot::model::engine;
namespace fs = std::filesystem;

namespace {

constexpr int kHidden = 2048, kHeads = 32, kKv = 4, kHeadDim = 128, kExperts = 128, kTopK = 8,
              kExpert = 768, kVocab = 32000;

using Spec = deskpilot::bench::TensorSpec;

void write_checkpoint(const fs::path& dir, int layers) {
    fs::create_directories(dir);
    std::vector<Spec> specs = {{"model.embed_tokens.weight", {kVocab, kHidden}},
                               {"model.norm.weight", {kHidden}, true},
                               {"lm_head.weight", {kVocab, kHidden}}};
    for (int l = 0; l < layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        specs.push_back({p + "input_layernorm.weight", {kHidden}, true});
        specs.push_back({p + "post_attention_layernorm.weight", {kHidden}, true});
        specs.push_back({p + "self_attn.q_norm.weight", {kHeadDim}, true});
        specs.push_back({p + "self_attn.k_norm.weight", {kHeadDim}, true});
        specs.push_back({p + "self_attn.q_proj.weight", {kHeads * kHeadDim, kHidden}});
        specs.push_back({p + "self_attn.k_proj.weight", {kKv * kHeadDim, kHidden}});
        specs.push_back({p + "self_attn.v_proj.weight", {kKv * kHeadDim, kHidden}});
        specs.push_back({p + "self_attn.o_proj.weight", {kHidden, kHeads * kHeadDim}});
        specs.push_back({p + "mlp.gate.weight", {kExperts, kHidden}});
        specs.push_back({p + "mlp.experts.gate_up_proj", {kExperts, kHidden, 2 * kExpert}});
        specs.push_back({p + "mlp.experts.down_proj", {kExperts, kExpert, kHidden}});
    }
    // Norms near 1; matrices uniform in ±0.05 (router ±1 for distinct experts).
    for (Spec& sp : specs) sp.scale = sp.name.find("mlp.gate.") != std::string::npos ? 1.0f : 0.05f;
    deskpilot::bench::write_random_bf16(dir / "model.safetensors", specs);
    std::ofstream(dir / "config.json")
        << "{\"model_type\":\"qwen3_moe\",\"vocab_size\":" << kVocab
        << ",\"hidden_size\":" << kHidden << ",\"num_hidden_layers\":" << layers
        << ",\"num_attention_heads\":" << kHeads << ",\"num_key_value_heads\":" << kKv
        << ",\"head_dim\":" << kHeadDim << ",\"moe_intermediate_size\":" << kExpert
        << ",\"num_experts\":" << kExperts << ",\"num_experts_per_tok\":" << kTopK
        << ",\"norm_topk_prob\":true,\"rms_norm_eps\":1e-6,\"rope_theta\":1000000,"
           "\"tie_word_embeddings\":false}";
}

}  // namespace

int main(int argc, char** argv) {
    fs::path dir = fs::temp_directory_path() / "deskpilot-bench-moe";
    int layers = 2, prompt = 128, decode = 32, depth = 0, reps = 1, threads = 0;
    bool write_only = false;
    std::string logits_ids, logits_out;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--dir")
            dir = argv[i + 1];
        else if (a == "--layers")
            layers = std::atoi(argv[i + 1]);
        else if (a == "--prompt")
            prompt = std::atoi(argv[i + 1]);
        else if (a == "--decode")
            decode = std::atoi(argv[i + 1]);
        else if (a == "--depth")
            depth = std::atoi(argv[i + 1]);
        else if (a == "--reps")
            reps = std::max(1, std::atoi(argv[i + 1]));
        else if (a == "--logits-ids")
            logits_ids = argv[i + 1];
        else if (a == "--logits-out")
            logits_out = argv[i + 1];
        else if (a == "--write-only")
            write_only = std::atoi(argv[i + 1]) != 0;
        else if (a == "--threads")
            threads = std::atoi(argv[i + 1]);
        else {
            std::fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    const fs::path layer_dir = dir / ("layers" + std::to_string(layers));
    if (!fs::exists(layer_dir / "model.safetensors")) {
        std::fprintf(stderr, "writing synthetic checkpoint to %s ...\n", layer_dir.c_str());
        write_checkpoint(layer_dir, layers);
    }
    if (write_only) {
        std::printf("%s\n", layer_dir.c_str());
        return 0;
    }
    cpu::ThreadPool pool(threads);
    // Timed as NativeVlm runs: with a stop check (never set) read before every pool chunk.
    std::atomic<bool> never{false};
    const cpu::StopScope stop([&] { return never.load(std::memory_order_relaxed); });
    Qwen3MoeTextModel model(load_model_config(layer_dir), std::make_shared<Checkpoint>(layer_dir),
                            pool);
    if (!logits_out.empty()) {
        std::vector<std::int32_t> ids;
        for (std::size_t p = 0; p < logits_ids.size();) {
            ids.push_back(std::int32_t(std::stol(logits_ids.substr(p))));
            const std::size_t c = logits_ids.find(',', p);
            p = c == std::string::npos ? logits_ids.size() : c + 1;
        }
        if (ids.empty()) {
            std::fprintf(stderr, "--logits-out needs --logits-ids\n");
            return 2;
        }
        KvCache kv = model.new_cache(std::int64_t(ids.size()));
        const auto logits = model.forward(ids, Positions::text(0, std::int64_t(ids.size())), kv);
        std::ofstream(logits_out, std::ios::binary)
            .write(reinterpret_cast<const char*>(logits.data()),
                   std::streamsize(logits.size() * sizeof(float)));
        return 0;
    }
    auto tokens = [](int n, int salt) {
        std::vector<std::int32_t> ids(static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i) ids[std::size_t(i)] = (i * 7919 + salt) % kVocab;
        return ids;
    };
    const std::vector<std::int32_t> ids = tokens(prompt, 0), ctx = tokens(depth, 13);
    using clock = std::chrono::steady_clock;
    auto seconds = [](clock::time_point t0) {
        return std::chrono::duration<double>(clock::now() - t0).count();
    };
    // One untimed pass of at least 256 tokens touches the mapped weights, all experts included
    // (each token picks 8 of 128), so no timing pays for first-touch page faults; llama-bench's
    // warm-up likewise runs every expert.
    {
        const int n = std::max(prompt, 256);
        KvCache warm = model.new_cache(n);
        model.forward(tokens(n, 0), Positions::text(0, n), warm);
    }
    std::vector<double> pre, dec;
    for (int r = 0; r < reps; ++r) {
        KvCache kv = model.new_cache(prompt);
        const auto t0 = clock::now();
        model.forward(ids, Positions::text(0, prompt), kv);
        pre.push_back(prompt / seconds(t0));
    }
    for (int r = 0; decode > 0 && r < reps; ++r) {
        KvCache kv = model.new_cache(depth + decode);
        std::int32_t next = 1;
        if (depth > 0) {
            const auto logits = model.forward(ctx, Positions::text(0, depth), kv);
            next = std::int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
        }
        const auto t0 = clock::now();
        for (int i = 0; i < decode; ++i) {
            const auto logits = model.forward({&next, 1}, Positions::text(kv.length, 1), kv);
            next = std::int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
        }
        dec.push_back(decode / seconds(t0));
    }
    auto median = [](std::vector<double> v) {
        if (v.empty()) return 0.0;
        std::sort(v.begin(), v.end());
        const std::size_t n = v.size();
        return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    };
    auto list = [](const std::vector<double>& v) {
        std::string s;
        for (double x : v) s += (s.empty() ? "" : ", ") + std::to_string(x);
        return "[" + s + "]";
    };
    std::printf(
        "{\"layers\": %d, \"threads\": %d, \"isa\": \"%s\", \"reps\": %d, "
        "\"prefill_tokens\": %d, \"prefill_tok_s\": %.2f, \"prefill_samples\": %s, "
        "\"decode_tokens\": %d, \"decode_depth\": %d, \"decode_tok_s\": %.2f, "
        "\"decode_samples\": %s}\n",
        layers, pool.size(), cpu::isa_name(cpu::best_isa()), reps, prompt, median(pre),
        list(pre).c_str(), decode, depth, median(dec), list(dec).c_str());
    return 0;
}
