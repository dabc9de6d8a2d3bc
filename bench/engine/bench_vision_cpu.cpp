// The CPU Qwen3-VL vision path on a 1920x1080 screenshot: preprocessing, then a synthetic vision
// tower at Qwen3-VL-30B-A3B's real widths (hidden 1152, 16 heads, MLP 4304, patch 16, 48x48
// position table, output 2048, DeepStack after block 0) with random bf16 weights, written once.
//   bench_engine_vision_cpu [--dir DIR] [--blocks N] [--max-pixels N] [--threads N]
// Prints times per stage; the in-run baseline is the patch embedding with the full Conv3d
// kernel (two frames) against the pre-summed one the engine uses for still images (ratio).
// The full tower has 27 blocks: multiply the per-block time (tools/bench/vlm_vs_llama_cpp.sh
// times the whole model against llama.cpp).
//   bench_engine_vision_cpu --model-dir DIR --image PNG --features-out FILE [--threads N]
// instead runs a checkpoint folder's own tower on one image (no pixel cap) and writes what it
// hands the decoder as raw float32, per merged token the merger's values then each DeepStack
// level's: the layout of tools/bench/llama_vlm --embd-out, for parity checks.
//   bench_engine_vision_cpu --attn S [--reps N] [--threads N]
// instead times the vision attention alone (16 heads x 72, one segment of S patches, random
// q/k/v): the reference (three-pass softmax between GEMMs) and the tiled kernel, interleaved,
// medians and their ratio. S = 8160 is a 1920x1088 screenshot's patch count.
//   bench_engine_vision_cpu --steps N [--blocks N] [--max-pixels N] [--threads N]
// instead runs N screenshots through one tower, as an agent's steps do (each differs from the
// last in one pixel value): the first step's time, which allocates the tower's activations (see
// vblocks::Workspace), against the median of the later ones, which reuse them.
//   bench_engine_vision_cpu --preprocess N [--threads N]
// instead times preprocessing of the 1920x1080 screenshot for Qwen3-VL (1920x1088) and
// UI-TARS-1.5 (1932x1092) sizing, N rounds: one thread (the baseline) against the pool's rows
// as jobs, interleaved, medians and their ratio; and the prepared image's fingerprint
// (image_fingerprint, which NativeVlm computes once per screenshot) against the pooled time.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "model/engine/arch/vl_model.h"
#include "model/engine/config.h"
#include "model/engine/cpu/linear.h"
#include "model/engine/dtype.h"
#include "model/engine/vision/qwen3_vision.h"
#include "model/engine/vision/vision_blocks.h"
#include "random_checkpoint.h"
#include "vision/image_io.h"

using namespace deskpilot;
using namespace deskpilot::model::engine;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kHid = 1152, kHeads = 16, kMlp = 4304, kOut = 2048, kSide = 48;

double seconds(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

void write_tower(const fs::path& file, int blocks) {
    using Spec = bench::TensorSpec;
    std::vector<Spec> s = {{"model.visual.patch_embed.proj.weight", {kHid, 3, 2, 16, 16}},
                           {"model.visual.patch_embed.proj.bias", {kHid}},
                           {"model.visual.pos_embed.weight", {kSide * kSide, kHid}}};
    for (int b = 0; b < blocks; ++b) {
        const std::string p = "model.visual.blocks." + std::to_string(b) + ".";
        for (const char* n : {"norm1", "norm2"}) {
            s.push_back({p + n + ".weight", {kHid}, true});
            s.push_back({p + n + ".bias", {kHid}});
        }
        s.push_back({p + "attn.qkv.weight", {3 * kHid, kHid}});
        s.push_back({p + "attn.qkv.bias", {3 * kHid}});
        s.push_back({p + "attn.proj.weight", {kHid, kHid}});
        s.push_back({p + "attn.proj.bias", {kHid}});
        s.push_back({p + "mlp.linear_fc1.weight", {kMlp, kHid}});
        s.push_back({p + "mlp.linear_fc1.bias", {kMlp}});
        s.push_back({p + "mlp.linear_fc2.weight", {kHid, kMlp}});
        s.push_back({p + "mlp.linear_fc2.bias", {kHid}});
    }
    for (const std::string m : {"model.visual.merger", "model.visual.deepstack_merger_list.0"}) {
        const std::int64_t nd = m.find("deepstack") != std::string::npos ? 4 * kHid : kHid;
        s.push_back({m + ".norm.weight", {nd}, true});
        s.push_back({m + ".norm.bias", {nd}});
        s.push_back({m + ".linear_fc1.weight", {4 * kHid, 4 * kHid}});
        s.push_back({m + ".linear_fc1.bias", {4 * kHid}});
        s.push_back({m + ".linear_fc2.weight", {kOut, 4 * kHid}});
        s.push_back({m + ".linear_fc2.bias", {kOut}});
    }
    bench::write_random_bf16(file, s);
}

}  // namespace

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

int bench_attention(std::int64_t S, int reps, int threads) {
    const std::int64_t hd = kHid / kHeads;
    std::mt19937 rng(1);
    std::normal_distribution<float> n(0.0f, 1.0f);
    std::vector<float> qkv0(std::size_t(S * 3 * kHid)), cos(std::size_t(S * hd / 2)),
        sin(cos.size()), out(std::size_t(S * kHid));
    for (float& x : qkv0) x = n(rng);
    for (std::size_t i = 0; i < cos.size(); ++i) {
        cos[i] = std::cos(float(i % 97));
        sin[i] = std::sin(float(i % 97));
    }
    const std::int64_t seg[] = {0, S};
    cpu::ThreadPool pool(threads);
    std::vector<double> ref, flash;
    for (int r = 0; r < reps; ++r)
        for (int which = 0; which < 2; ++which) {
            std::vector<float> qkv = qkv0;
            const auto t0 = Clock::now();
            if (which == 0)
                model::engine::vblocks::segment_attention_reference(qkv.data(), S, kHeads, hd, cos,
                                                                    sin, seg, out.data(), pool);
            else
                model::engine::vblocks::segment_attention_flash(
                    qkv.data(), S, kHeads, hd, cos, sin, seg, out.data(), pool, cpu::best_isa());
            const double t = seconds(t0, Clock::now());
            (which == 0 ? ref : flash).push_back(t);
            std::printf("  rep %d %s: %.3f s\n", r, which == 0 ? "reference" : "tiled", t);
        }
    std::printf(
        "vision attention S=%lld, %d heads x %lld, %d threads, %s: reference %.3f s, "
        "tiled %.3f s (medians of %d): %.2fx faster\n",
        static_cast<long long>(S), kHeads, static_cast<long long>(hd), pool.size(),
        cpu::isa_name(cpu::best_isa()), median(ref), median(flash), reps,
        median(ref) / median(flash));
    return 0;
}

int bench_preprocess(int reps, int threads) {
    const vision::Frame frame = vision::read_image(
        fs::path(DESKPILOT_SOURCE_DIR) / "tests/data/engine/preprocess/screen_1920x1080.png");
    cpu::ThreadPool one(1), pool(threads);
    for (const auto& [name, params] : {std::pair{"qwen3-vl", kQwen3VlPreprocess},
                                       std::pair{"ui-tars-1.5", kQwen25VlPreprocess}}) {
        std::vector<double> serial, parallel, fingerprint;
        vision::Size size;
        for (int r = 0; r < reps; ++r) {
            for (cpu::ThreadPool* p : {&one, &pool}) {
                const auto t0 = Clock::now();
                const PixelValues px = preprocess_image(frame, params, 0, *p);
                (p == &one ? serial : parallel).push_back(seconds(t0, Clock::now()));
                size = px.resized;
                if (p != &pool) continue;
                const auto t1 = Clock::now();
                volatile std::uint64_t print = image_fingerprint(px);
                (void)print;
                fingerprint.push_back(seconds(t1, Clock::now()));
            }
        }
        std::printf(
            "preprocess 1920x1080 -> %dx%d (%s): 1 thread %.1f ms, %d threads %.1f ms "
            "(medians of %d): %.2fx faster\n",
            size.width, size.height, name, 1e3 * median(serial), pool.size(),
            1e3 * median(parallel), reps, median(serial) / median(parallel));
        // NativeVlm prepares a screenshot and its fingerprint once; the fingerprint was paid
        // again on every later step that showed the screenshot (before 2026-12-04).
        std::printf("  its fingerprint: %.1f ms, %.2fx the pooled preprocessing\n",
                    1e3 * median(fingerprint), median(fingerprint) / median(parallel));
    }
    return 0;
}

int main(int argc, char** argv) {
    fs::path dir = fs::temp_directory_path() / "deskpilot-bench-vision";
    int blocks = 2, threads = 0;
    std::int64_t max_pixels = 1003520;
    std::string model_dir, image, features_out;
    std::int64_t attn_only = -1;  // -1: not asked for
    int reps = 3, preprocess_reps = 0, steps = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--dir")
            dir = argv[i + 1];
        else if (a == "--blocks")
            blocks = std::atoi(argv[i + 1]);
        else if (a == "--max-pixels")
            max_pixels = std::atoll(argv[i + 1]);
        else if (a == "--threads")
            threads = std::atoi(argv[i + 1]);
        else if (a == "--model-dir")
            model_dir = argv[i + 1];
        else if (a == "--image")
            image = argv[i + 1];
        else if (a == "--features-out")
            features_out = argv[i + 1];
        else if (a == "--attn")
            attn_only = std::atoll(argv[i + 1]);
        else if (a == "--reps")
            reps = std::atoi(argv[i + 1]);
        else if (a == "--preprocess")
            preprocess_reps = std::atoi(argv[i + 1]);
        else if (a == "--steps")
            steps = std::atoi(argv[i + 1]);
        else {
            std::fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (preprocess_reps > 0) return bench_preprocess(preprocess_reps, threads);
    if (attn_only != -1 || reps != 3) {
        if (attn_only <= 0 || reps < 1) {
            std::fprintf(stderr, "--attn needs a patch count > 0 and --reps a count > 0\n");
            return 2;
        }
        return bench_attention(attn_only, reps, threads);
    }
    if (!model_dir.empty()) {
        if (image.empty() || features_out.empty()) {
            std::fprintf(stderr, "--model-dir needs --image PNG and --features-out FILE\n");
            return 2;
        }
        const ModelConfig mc = load_model_config(model_dir);
        cpu::ThreadPool pool(threads);
        const Qwen3VisionModel tower(mc, std::make_shared<const Checkpoint>(model_dir), pool);
        const PixelValues px = preprocess_image(vision::read_image(image), kQwen3VlPreprocess, 0);
        const VisionFeatures f = tower.encode(px, {});
        std::ofstream out(features_out, std::ios::binary);
        for (std::int64_t t = 0; t < f.tokens; ++t) {
            out.write(reinterpret_cast<const char*>(f.merged.data() + t * f.width),
                      std::streamsize(f.width * 4));
            for (const auto& d : f.deepstack)
                out.write(reinterpret_cast<const char*>(d.data() + t * f.width),
                          std::streamsize(f.width * 4));
        }
        std::printf("%lld tokens x %zu levels of %lld written to %s\n",
                    static_cast<long long>(f.tokens), 1 + f.deepstack.size(),
                    static_cast<long long>(f.width), features_out.c_str());
        return out ? 0 : 1;
    }
    const fs::path file = dir / ("tower" + std::to_string(blocks) + ".safetensors");
    if (!fs::exists(file)) {
        fs::create_directories(dir);
        write_tower(file, blocks);
    }
    const vision::Frame frame = vision::read_image(
        fs::path(DESKPILOT_SOURCE_DIR) / "tests/data/engine/preprocess/screen_1920x1080.png");
    auto t0 = Clock::now();
    const PixelValues px = preprocess_image(frame, kQwen3VlPreprocess, max_pixels);
    auto t1 = Clock::now();
    std::printf("preprocess 1920x1080 -> %dx%d (%lld patches, %lld tokens): %.1f ms\n",
                px.resized.width, px.resized.height, static_cast<long long>(px.rows),
                static_cast<long long>(px.merged_tokens()), 1e3 * seconds(t0, t1));

    ModelConfig mc;
    mc.architecture = Architecture::qwen3_vl_moe;
    VisionConfig vc;
    vc.depth = blocks;
    vc.hidden_size = kHid;
    vc.num_heads = kHeads;
    vc.intermediate_size = kMlp;
    vc.patch_size = 16;
    vc.temporal_patch_size = 2;
    vc.spatial_merge_size = 2;
    vc.out_hidden_size = kOut;
    vc.num_position_embeddings = kSide * kSide;
    vc.deepstack_visual_indexes = {0};
    mc.vision = vc;
    cpu::ThreadPool pool(threads);
    const Qwen3VisionModel tower(mc, std::make_shared<const Checkpoint>(file), pool);

    struct Enough {};
    auto run = [&](const PixelValues& p, bool report) {
        Clock::time_point last = Clock::now(), start = last;
        double patch = 0, block_total = 0;
        try {
            tower.encode(p, [&](const std::string& name, int layer, const float*, std::int64_t,
                                std::int64_t) {
                const auto now = Clock::now();
                if (name == "patch_embed") {
                    patch = seconds(last, now);
                    if (!report) throw Enough{};  // the baseline needs only the patch embedding
                }
                if (name == "block") {
                    block_total += seconds(last, now);
                    if (report) std::printf("  block %d: %.2f s\n", layer, seconds(last, now));
                }
                if (name != "pos_embed") last = now;
            });
        } catch (const Enough&) {
        }
        const double total = seconds(start, Clock::now());
        if (report)
            std::printf(
                "vision tower, %d blocks: %.2f s (patch embed %.1f ms); 27 blocks ≈ %.1f s\n",
                blocks, total, 1e3 * patch, total - block_total + block_total / blocks * 27);
        return patch;
    };
    if (steps > 0) {
        if (steps < 2) {
            std::fprintf(stderr, "--steps needs at least 2 steps (the first, and one after)\n");
            return 2;
        }
        std::vector<double> times;
        PixelValues frame_px = px;
        for (int n = 0; n < steps; ++n) {
            // The next screenshot: one value changed in every temporal copy (a row is
            // channel, t, y, x), so it stays a still image (the pre-summed patch kernel), as a
            // screenshot is.
            const std::size_t frame = std::size_t(vc.patch_size) * std::size_t(vc.patch_size);
            const std::size_t k = std::size_t(n) % frame;
            for (int t = 0; t < vc.temporal_patch_size; ++t) frame_px.data[t * frame + k] += 1.0f;
            const auto a = Clock::now();
            tower.encode(frame_px, {});
            times.push_back(seconds(a, Clock::now()));
            std::printf("  step %d: %.3f s\n", n + 1, times.back());
        }
        const double later = median({times.begin() + 1, times.end()});
        std::printf(
            "%d blocks, %lld patches: first step %.3f s, later steps %.3f s (median of "
            "%d): %.2fx faster\n%d threads, %s\n",
            blocks, static_cast<long long>(px.rows), times[0], later, steps - 1, times[0] / later,
            pool.size(), cpu::isa_name(cpu::best_isa()));
        return 0;
    }
    const double summed = run(px, true);
    PixelValues moving = px;  // a second frame that differs: the full two-frame kernel
    moving.data[std::size_t(16 * 16)] += 1.0f;
    const double full = run(moving, false);
    std::printf("patch embed: pre-summed %.1f ms vs full Conv3d kernel %.1f ms (%.2fx faster)\n",
                1e3 * summed, 1e3 * full, full / summed);
    std::printf("%d threads, %s\n", pool.size(), cpu::isa_name(cpu::best_isa()));
    return 0;
}
