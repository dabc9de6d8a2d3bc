// The paths of tests/model/engine/test_cuda_long_prompts.cpp on the host emulator (see run.sh):
// text_model.cpp, vision_model.cpp and vision_qwen2_5.cpp's real host code over the emulated
// kernels, against the CPU engine on the bf16 copy of a tiny checkpoint.
//   long_text TINY_DIR OUT_DIR N [bf16|f32]: an N-token text prompt (every position's logits: the
//   flash
//     prefill over N/16 query tiles), decode steps (N >= 1984: the most split-K splits), with
//     the KV cache in bf16 and in f32 (or only the one named); the capacity error for a prompt or a
//     token that does not fit, leaving the cache as it was; two decode steps at that length with
//     graphs on (captured, then replayed) equal to the eager ones.
//   many_images TINY_DIR OUT_DIR: an agent conversation (five screenshots in user turns with
//     the assistant's actions between, formatted and tokenised as NativeVlm does) whose five images
//     have different grids (the smallest, 2x2 patches: one merged token; non-square ones), the
//     decoder and the vision tower on the "GPU": every position's logits, decode steps, and the
//     greedy tokens chosen on the device equal the CPU's.
// The gpu test runs the same at 16k tokens and at real screenshot sizes.
#define EMU_WITH_ENGINE
#include <chrono>
#include <cstdio>

#include "check_report.h"
#include "engine_standins.h"
#include "model/engine/arch/vl_model.h"
#include "model/engine/chat_format.h"
#include "model/engine/cuda/text_model.h"
#include "model/engine/cuda/vl_model_device.h"
#include "model/engine/tokenizer.h"
#include "planner/request.h"
#include "tests/model/engine/cuda_test_support.h"

namespace engine = deskpilot::model::engine;
namespace cuda = deskpilot::model::cuda;
namespace planner = deskpilot::planner;
using deskpilot::test::cuda::rel_err;

namespace {

std::int32_t argmax(const float* v, std::int64_t n) {
    return std::int32_t(std::max_element(v, v + n) - v);
}

// The gpu tests' metric (3e-2 passes) and the rows whose top token differs (near-ties in the
// tiny model's logits, reported only).
void report(const std::string& what, const std::vector<float>& got, const std::vector<float>& want,
            std::int64_t V) {
    const float e = rel_err(got, want);
    std::size_t flips = 0, rows = got.size() == want.size() ? got.size() / std::size_t(V) : 0;
    for (std::size_t r = 0; r < rows; ++r)
        flips += argmax(got.data() + r * V, V) != argmax(want.data() + r * V, V);
    char line[160];
    std::snprintf(line, sizeof line, "%s: error %.3g, top token differs in %zu of %zu rows",
                  what.c_str(), e, flips, rows);
    expect(e <= 3e-2f, line);
}

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

std::shared_ptr<const engine::Checkpoint> bf16_copy(const std::filesystem::path& tiny,
                                                    const std::filesystem::path& out) {
    // Every weight rounded to bf16 (kept f32): both devices multiply the same weights.
    deskpilot::test::cuda::write_bf16_copy(tiny / "model.safetensors", out / "bf16.safetensors",
                                           {});
    return std::make_shared<const engine::Checkpoint>(out / "bf16.safetensors");
}

int long_text(const std::filesystem::path& tiny, const std::filesystem::path& out, std::int64_t n,
              const std::string& only_kv) {
    const auto ck = bf16_copy(tiny, out);
    const engine::ModelConfig cfg = engine::load_model_config(tiny);
    engine::VlModel vl(cfg, ck);
    engine::TextDecoder& cpu = vl.text();
    const auto gpu = cuda::CudaTextModel::upload(cpu, *ck);
    // Eager decode steps first (graphs are on by default since the H200 runs): the graph check
    // below then captures once and replays once.
    gpu->set_graphs(false);
    const std::int64_t V = cfg.text.vocab_size, steps = 3, cap = n + steps;
    std::vector<std::int32_t> ids;
    for (std::int64_t i = 0; i < n; ++i) ids.push_back(std::int32_t((i * 37 + 11) % 900));
    const auto pos = engine::Positions::text(0, n);
    std::printf("%s, %lld-token text prompt:\n", tiny.filename().c_str(), (long long)n);

    gpu->reset(n - 1);
    const std::string over = error_of([&] { gpu->forward(ids, pos); });
    expect(over.find("KV cache holds " + std::to_string(n - 1)) != std::string::npos &&
               gpu->length() == 0,
           "a prompt one token over the capacity: \"" + over + "\", nothing cached");

    auto t0 = std::chrono::steady_clock::now();
    auto kv0 = cpu.new_cache(cap);
    const std::vector<float> want = cpu.forward(ids, pos, kv0, true);
    std::printf("  (CPU prefill %.2f s)\n", seconds_since(t0));
    // The bf16 run's first two decode steps: their input tokens and logits.
    std::vector<std::int32_t> step_ids;
    std::vector<std::vector<float>> eager_steps;
    for (const cuda::KvDtype kvd : {cuda::KvDtype::bf16, cuda::KvDtype::f32}) {
        const std::string kvn = kvd == cuda::KvDtype::bf16 ? "bf16 KV" : "f32 KV";
        if (!only_kv.empty() && kvn != only_kv + " KV") continue;
        gpu->set_kv_dtype(kvd);
        gpu->reset(cap);
        engine::KvCache kv = kv0;
        t0 = std::chrono::steady_clock::now();
        report("prefill, every position, " + kvn, gpu->forward(ids, pos, true), want, V);
        std::printf("  (emulated prefill %.1f s)\n", seconds_since(t0));
        std::int32_t next = argmax(want.data() + (n - 1) * V, V);
        for (std::int64_t step = 0; step < steps; ++step) {
            const std::int32_t one[1] = {next};
            const auto p1 = engine::Positions::text(kv.length, 1);
            const int splits = int(std::clamp<std::int64_t>((kv.length + 64) / 64, 1, 32));
            const std::vector<float> w = cpu.forward(one, p1, kv), g = gpu->forward(one, p1);
            if (step < 2 && kvd == cuda::KvDtype::bf16) {
                step_ids.push_back(next);
                eager_steps.push_back(g);
            }
            report("decode " + std::to_string(step) + " (" + std::to_string(splits) + " splits), " +
                       kvn,
                   g, w, V);
            next = std::int32_t((argmax(w.data(), V) + 97 * (step + 1)) % 900);
        }
        const std::int32_t one[1] = {next};
        const std::string full =
            error_of([&] { gpu->forward(one, engine::Positions::text(cap, 1)); });
        expect(full.find("KV cache holds") != std::string::npos && gpu->length() == cap,
               "one token more than the capacity (" + kvn + "): \"" + full + "\", " +
                   std::to_string(gpu->length()) + " tokens still cached");
        if (kvd != cuda::KvDtype::bf16) continue;
        // The first two decode steps again as the step graph (the eager steps sized the scratch):
        // the first captured, the second replayed (its KV length read on the device).
        gpu->rewind(n);
        gpu->set_graphs(true);
        bool same = true;
        for (std::size_t i = 0; i < step_ids.size(); ++i) {
            const std::int32_t one[1] = {step_ids[i]};
            same &= gpu->forward(one, engine::Positions::text(n + std::int64_t(i), 1)) ==
                    eager_steps[i];
        }
        gpu->set_graphs(false);
        const cuda::GraphCounts c = gpu->graph_counts();
        expect(same && c.captures == 1 && c.replays == 1 && c.launches == 2 && c.abandoned == 0,
               "two decode steps at " + std::to_string(n) + " tokens as a graph: " +
                   (same ? "the eager logits bit for bit" : "DIFFERENT logits") + " (" +
                   std::to_string(c.captures) + " capture, " + std::to_string(c.replays) +
                   " replay, " + std::to_string(c.launches) + " launches)");
    }
    std::printf("%s\n", bad ? "FAIL" : "ok");
    return bad;
}

// A tiny BGRA frame: the conversation only needs an image part per screenshot (the pixels the
// towers see are random_pixels at the grids below, so the emulated towers stay small).
std::shared_ptr<const deskpilot::vision::Frame> frame() {
    deskpilot::vision::Frame f;
    f.width = f.height = 4;
    f.stride = 16;
    f.pixels = std::make_shared<std::vector<std::uint8_t>>(64, 128);
    return std::make_shared<const deskpilot::vision::Frame>(std::move(f));
}

int many_images(const std::filesystem::path& tiny, const std::filesystem::path& out) {
    const auto ck = bf16_copy(tiny, out);
    const engine::ModelConfig cfg = engine::load_model_config(tiny);
    const bool qwen25 = cfg.architecture == engine::Architecture::qwen2_5_vl;
    engine::VlModel cpu(cfg, ck), gpu(cfg, ck);
    cuda::move_to_device(gpu, cfg, *ck);
    const auto& vc = *cfg.vision;
    const std::int64_t p2 = std::int64_t(vc.patch_size) * vc.patch_size,
                       cols = 3 * vc.temporal_patch_size * p2;
    // The smallest grid, non-square ones, one bigger than a Qwen2.5-VL window (8x8 patches)
    // with partial windows, a still image.
    const int grids[5][2] = {{4, 6}, {2, 2}, {10, 6}, {2, 8}, {6, 4}};
    std::vector<engine::PixelValues> images;
    std::vector<int> tokens;
    // The agent's conversation shape (planner::Conversation without its long system prompt,
    // which would make the emulated prefill slow): a screenshot per user turn, the assistant's
    // actions between.
    std::vector<planner::Message> messages{
        {planner::Role::system, {planner::ContentPart::of_text("You are a helpful assistant.")}},
        {planner::Role::user, {planner::ContentPart::of_text("open the settings")}}};
    for (int i = 0; i < 5; ++i) {
        images.push_back(
            deskpilot::test::cuda::random_pixels(grids[i][0], grids[i][1], cols, unsigned(40 + i),
                                                 i == 2 ? int(vc.temporal_patch_size) : 0, p2));
        tokens.push_back(int(images.back().merged_tokens()));
        if (i > 0) messages.push_back({planner::Role::user, {}});
        messages.back().parts.push_back(planner::ContentPart::of_image(frame()));
        if (i < 4)
            messages.push_back({planner::Role::assistant,
                                {planner::ContentPart::of_text("Action: click(start_box='(" +
                                                               std::to_string(i) + ",9)')")}});
    }
    engine::ChatOptions chat;
    chat.image_tokens = tokens;
    const std::string text = engine::format_chat(
        qwen25 ? engine::ChatTemplate::qwen2_vl : engine::ChatTemplate::qwen3_vl, messages, chat);
    const std::vector<std::int32_t> ids =
        engine::Tokenizer::from_file(tiny / "tokenizer.json").encode(text);
    std::int64_t pads = std::count(ids.begin(), ids.end(), cfg.image_token_id);
    std::printf("%s, five images (grids 4x6 2x2 10x6 2x8 6x4: %lld image tokens), %zu tokens:\n",
                tiny.filename().c_str(), (long long)pads, ids.size());
    const std::int64_t V = cfg.text.vocab_size;
    engine::VlmState cs = cpu.new_state(), gs = gpu.new_state();
    auto t0 = std::chrono::steady_clock::now();
    const std::vector<float> got = gpu.prefill(ids, images, gs, true);
    std::printf("  (emulated towers + prefill %.1f s)\n", seconds_since(t0));
    const std::vector<float> want = cpu.prefill(ids, images, cs, true);
    report("prefill, every position", got, want, V);
    expect(gs.rope_delta == cs.rope_delta && cs.rope_delta < 0,
           "rope_delta " + std::to_string(gs.rope_delta) + " (CPU " +
               std::to_string(cs.rope_delta) + ")");
    // Greedy on both: the GPU chooses on the device (as NativeVlm on cuda), the CPU by argmax.
    std::vector<std::int32_t> gt{argmax(got.data() + got.size() - V, V)},
        wt{argmax(want.data() + want.size() - V, V)};
    for (int step = 0; step < 4; ++step) {
        engine::VlmState with_logits = gs;
        const std::vector<float> g = gpu.decode(wt.back(), with_logits),
                                 w = cpu.decode(wt.back(), cs);
        report("decode " + std::to_string(step), g, w, V);
        gt.push_back(gpu.decode_choose(gt.back(), gs, {}));
        wt.push_back(argmax(w.data(), V));
    }
    std::string seq;
    for (std::int32_t t : gt) seq += " " + std::to_string(t);
    expect(gt == wt, "greedy tokens" + seq + (gt == wt ? " (the CPU's)" : " (the CPU's DIFFER)"));
    std::printf("%s\n", bad ? "FAIL" : "ok");
    return bad;
}

}  // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress as it happens (the runs are slow)
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "long_text" && (argc == 5 || argc == 6))
        return long_text(argv[2], argv[3], std::atoll(argv[4]), argc == 6 ? argv[5] : "");
    if (mode == "many_images" && argc == 4) return many_images(argv[2], argv[3]);
    std::fprintf(stderr,
                 "usage: long_prompts_check long_text TINY_DIR OUT_DIR N [bf16|f32]\n"
                 "       long_prompts_check many_images TINY_DIR OUT_DIR\n");
    return 2;
}
