// Time to first token of Qwen2.5-VL / UI-TARS-1.5-7B on the CPU for one 1920x1080 screenshot
// plus a UI-TARS-sized text prompt, and decode speed, from synthetic checkpoints at the real
// widths with random bf16 weights (written once):
//   vision: hidden 1280, 16 heads, SwiGLU 3420, patch 14, 112 px windows, merger to 3584. Two
//   blocks run — block 0 windowed, block 1 full attention (the in-run baseline: the ratio says
//   what the windows save) — and the 32-block tower (28 windowed + 4 full) is extrapolated.
//   decoder: hidden 3584, 28/4 heads × 128, MLP 18944, q/k/v biases. --layers N run (default 1),
//   28 extrapolated from the per-layer time; the output projection is measured at a 32000-token
//   vocabulary (tied) and scaled to 152064.
//   bench_engine_qwen2_5_cpu [--dir DIR] [--layers N] [--max-pixels N] [--text N] [--decode N]
//                            [--threads N]
// No llama.cpp comparison yet (see the issue).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "model/engine/arch/qwen2_5_vl.h"
#include "model/engine/arch/vl_model.h"
#include "model/engine/cpu/linear.h"
#include "model/engine/vision/qwen2_5_vision.h"
#include "random_checkpoint.h"
#include "vision/image_io.h"

using namespace deskpilot;
using namespace deskpilot::model::engine;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using bench::TensorSpec;

namespace {

constexpr int kVHid = 1280, kVHeads = 16, kVMlp = 3420, kHid = 3584, kHeads = 28, kKv = 4,
              kHd = 128, kMlp = 18944, kVocab = 32000, kRealVocab = 152064, kDepth = 32,
              kFullBlocks = 4, kLayers = 28;

double seconds(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

void write_checkpoint(const fs::path& dir, int layers) {
    fs::create_directories(dir);
    std::vector<TensorSpec> s = {{"model.embed_tokens.weight", {kVocab, kHid}},
                                 {"model.norm.weight", {kHid}, true},
                                 {"visual.patch_embed.proj.weight", {kVHid, 3, 2, 14, 14}},
                                 {"visual.merger.ln_q.weight", {kVHid}, true},
                                 {"visual.merger.mlp.0.weight", {4 * kVHid, 4 * kVHid}},
                                 {"visual.merger.mlp.0.bias", {4 * kVHid}},
                                 {"visual.merger.mlp.2.weight", {kHid, 4 * kVHid}},
                                 {"visual.merger.mlp.2.bias", {kHid}}};
    for (int b = 0; b < 2; ++b) {
        const std::string p = "visual.blocks." + std::to_string(b) + ".";
        s.push_back({p + "norm1.weight", {kVHid}, true});
        s.push_back({p + "norm2.weight", {kVHid}, true});
        for (auto [n, o, i] : {std::tuple{"attn.qkv", 3 * kVHid, kVHid},
                               {"attn.proj", kVHid, kVHid},
                               {"mlp.gate_proj", kVMlp, kVHid},
                               {"mlp.up_proj", kVMlp, kVHid},
                               {"mlp.down_proj", kVHid, kVMlp}}) {
            s.push_back({p + n + ".weight", {o, i}});
            s.push_back({p + n + ".bias", {o}});
        }
    }
    for (int l = 0; l < layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        s.push_back({p + "input_layernorm.weight", {kHid}, true});
        s.push_back({p + "post_attention_layernorm.weight", {kHid}, true});
        for (auto [n, o] : {std::pair{"q", kHeads * kHd}, {"k", kKv * kHd}, {"v", kKv * kHd}}) {
            s.push_back({p + "self_attn." + n + "_proj.weight", {o, kHid}});
            s.push_back({p + "self_attn." + n + "_proj.bias", {o}});
        }
        s.push_back({p + "self_attn.o_proj.weight", {kHid, kHeads * kHd}});
        s.push_back({p + "mlp.gate_proj.weight", {kMlp, kHid}});
        s.push_back({p + "mlp.up_proj.weight", {kMlp, kHid}});
        s.push_back({p + "mlp.down_proj.weight", {kHid, kMlp}});
    }
    bench::write_random_bf16(dir / "model.safetensors", s);
    std::ofstream(dir / "config.json")
        << "{\"model_type\":\"qwen2_5_vl\",\"vocab_size\":" << kVocab << ",\"hidden_size\":" << kHid
        << ",\"num_hidden_layers\":" << layers << ",\"num_attention_heads\":" << kHeads
        << ",\"num_key_value_heads\":" << kKv << ",\"intermediate_size\":" << kMlp
        << ",\"rms_norm_eps\":1e-6,\"rope_theta\":1000000,\"tie_word_embeddings\":true,"
           "\"rope_scaling\":{\"type\":\"mrope\",\"mrope_section\":[16,24,24]},"
           "\"image_token_id\":31000,\"vision_start_token_id\":31001,"
           "\"vision_end_token_id\":31002,"
           "\"vision_config\":{\"depth\":2,\"hidden_size\":"
        << kVHid << ",\"num_heads\":" << kVHeads << ",\"intermediate_size\":" << kVMlp
        << ",\"patch_size\":14,\"temporal_patch_size\":2,\"spatial_merge_size\":2,"
           "\"out_hidden_size\":"
        << kHid << ",\"window_size\":112,\"fullatt_block_indexes\":[1],\"hidden_act\":\"silu\"}}";
}

}  // namespace

int main(int argc, char** argv) {
    fs::path dir = fs::temp_directory_path() / "deskpilot-bench-qwen2_5";
    int layers = 1, text = 400, decode = 8, threads = 0;
    std::int64_t max_pixels = 0;  // 0: the model's own bound (a 1920x1080 screen: 2691 tokens)
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--dir")
            dir = argv[i + 1];
        else if (a == "--layers")
            layers = std::atoi(argv[i + 1]);
        else if (a == "--max-pixels")
            max_pixels = std::atoll(argv[i + 1]);
        else if (a == "--text")
            text = std::atoi(argv[i + 1]);
        else if (a == "--decode")
            decode = std::atoi(argv[i + 1]);
        else if (a == "--threads")
            threads = std::atoi(argv[i + 1]);
        else {
            std::fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    const fs::path ck_dir = dir / ("layers" + std::to_string(layers));
    if (!fs::exists(ck_dir / "model.safetensors")) {
        std::fprintf(stderr, "writing synthetic checkpoint to %s ...\n", ck_dir.c_str());
        write_checkpoint(ck_dir, layers);
    }
    cpu::ThreadPool pool(threads);
    // Timed as NativeVlm runs: with a stop check (never set) read before every pool chunk.
    std::atomic<bool> never{false};
    const cpu::StopScope stop([&] { return never.load(std::memory_order_relaxed); });
    VlModel model(load_model_config(ck_dir), std::make_shared<const Checkpoint>(ck_dir), pool);

    const vision::Frame frame = vision::read_image(
        fs::path(DESKPILOT_SOURCE_DIR) / "tests/data/engine/preprocess/screen_1920x1080.png");
    auto t0 = Clock::now();
    const PixelValues px = preprocess_image(frame, model.preprocess_params(), max_pixels);
    const double t_pre = seconds(t0, Clock::now());
    const std::int64_t image_tokens = px.merged_tokens();
    std::printf("preprocess 1920x1080 -> %dx%d (%lld patches, %lld image tokens): %.1f ms\n",
                px.resized.width, px.resized.height, static_cast<long long>(px.rows),
                static_cast<long long>(image_tokens), 1e3 * t_pre);

    // Vision: per-block times from the trace.
    double t_block[2] = {0, 0}, t_patch = 0;
    Clock::time_point last = Clock::now();
    const Clock::time_point v0 = last;
    const VisionFeatures f = model.vision().encode(
        px, [&](const std::string& name, int layer, const float*, std::int64_t, std::int64_t) {
            const auto now = Clock::now();
            if (name == "patch_embed") t_patch = seconds(last, now);
            if (name == "block") t_block[layer] = seconds(last, now);
            last = now;
        });
    const double t_vision_run = seconds(v0, Clock::now());
    const double t_rest = t_vision_run - t_block[0] - t_block[1];  // patch embed, merger, etc.
    const double t_vision = t_rest + (kDepth - kFullBlocks) * t_block[0] + kFullBlocks * t_block[1];
    std::printf(
        "vision: patch embed %.2f s, windowed block %.2f s, full-attention block %.2f s "
        "(full/windowed %.2fx); 32-block tower ≈ %.1f s\n",
        t_patch, t_block[0], t_block[1], t_block[1] / t_block[0], t_vision);

    // Decoder prefill: a UI-TARS-sized prompt around the image tokens.
    std::vector<std::int32_t> ids;
    for (int i = 0; i < text / 2; ++i) ids.push_back((i * 7919) % 30000);
    ids.push_back(31001);
    ids.insert(ids.end(), std::size_t(image_tokens), 31000);
    ids.push_back(31002);
    for (int i = 0; i < text - text / 2; ++i) ids.push_back((i * 104729) % 30000);
    std::int64_t delta = 0;
    const std::array<int, 3> grid = px.grid_thw;
    const Positions pos = multimodal_positions(ids, 31000, {&grid, 1}, 2, delta);
    VisualInjection inj;
    inj.merged = f.merged.data();
    inj.tokens = f.tokens;
    std::vector<double> t_layer(std::size_t(layers), 0.0);
    double t_head = 0;
    auto timed_forward = [&](std::span<const std::int32_t> in, const Positions& p, KvCache& kv,
                             const VisualInjection* v) {
        Clock::time_point mark = Clock::now();
        int current = -1;
        std::vector<float> logits = model.text().forward(
            in, p, kv, false,
            [&](const std::string& name, int layer, const float*, std::int64_t, std::int64_t) {
                const auto now = Clock::now();
                if (name == "hidden_in") {
                    if (current >= 0) t_layer[std::size_t(current)] += seconds(mark, now);
                    current = layer, mark = now;
                } else if (name == "norm_out") {
                    t_layer[std::size_t(current)] += seconds(mark, now);
                    mark = now;
                }
            },
            v);
        t_head += seconds(mark, Clock::now());
        return logits;
    };
    KvCache kv = model.text().new_cache(std::int64_t(ids.size()) + decode + 1);
    std::vector<float> logits = timed_forward(ids, pos, kv, &inj);
    double per_layer = 0;
    for (double t : t_layer) per_layer += t / layers;
    const double head_scale = double(kRealVocab) / kVocab;
    const double t_prefill = kLayers * per_layer + t_head * head_scale;
    std::printf(
        "decoder prefill of %zu tokens: %.2f s per layer, head %.3f s; 28 layers ≈ %.1f s\n",
        ids.size(), per_layer, t_head, t_prefill);
    std::printf("time to first token ≈ %.1f s (preprocess %.2f + vision %.1f + prefill %.1f)\n",
                t_pre + t_vision + t_prefill, t_pre, t_vision, t_prefill);

    std::fill(t_layer.begin(), t_layer.end(), 0.0);
    t_head = 0;
    for (int n = 0; n < decode; ++n) {
        const std::int32_t next[1] = {
            std::int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin())};
        const std::int64_t p = kv.length + delta;
        Positions one;
        one.t = one.h = one.w = {p};
        logits = timed_forward(next, one, kv, nullptr);
    }
    per_layer = 0;
    for (double t : t_layer) per_layer += t / layers / decode;
    const double per_token = kLayers * per_layer + t_head / decode * head_scale;
    std::printf("decode: %.1f ms per layer per token; 28 layers ≈ %.2f tok/s\n", 1e3 * per_layer,
                1.0 / per_token);
    std::printf("%d threads, %s\n", pool.size(), cpu::isa_name(cpu::best_isa()));
    return 0;
}
