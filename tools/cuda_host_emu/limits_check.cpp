// The CUDA backend's limits on the host emulator (see run.sh): the real host code of
// text_model.cpp, vision_qwen2_5.cpp and vision_model.cpp over the emulated kernels, with
// engine_standins.h's DeviceBuffer counting against memory_limit.cpp as buffer.cpp does.
//   mem_limit TINY_DIR: DESKPILOT_CUDA_MEM_LIMIT too small for the weights, for a grown KV cache,
//     for a vision pass's scratch: each one CudaError naming the buffer, its bytes and what the
//     cap leaves free, with every counted byte given back; the model still runs after the
//     KV-cache and vision failures; a malformed value is its own error.
//   cancel TINY_DIR: a cpu::StopScope that says stop on its (N+1)-th question stops a prefill
//     after N decoder layers and a vision pass after N blocks (cpu::Stopped); the cache keeps
//     its length, and the same prompt then gives the logits of a pass never stopped.
#define EMU_WITH_ENGINE
#include <cstdio>
#include <cstdlib>

#include "check_report.h"
#include "engine_standins.h"
#include "model/engine/arch/vl_model.h"
#include "model/engine/cpu/thread_pool.h"
#include "model/engine/cuda/memory_limit.h"
#include "model/engine/cuda/text_model.h"
#include "model/engine/cuda/vision_model.h"
#include "model/engine/cuda/vision_qwen2_5.h"
#include "tests/model/engine/cuda_test_support.h"

namespace engine = deskpilot::model::engine;
namespace cuda = deskpilot::model::cuda;
namespace cpu = engine::cpu;

namespace {

bool has(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

std::unique_ptr<engine::VisionEncoder> gpu_tower(const engine::ModelConfig& cfg,
                                                 const engine::Checkpoint& ck) {
    if (cfg.architecture == engine::Architecture::qwen2_5_vl)
        return std::make_unique<cuda::CudaQwen25Vision>(cfg, ck);
    return std::make_unique<cuda::CudaQwen3Vision>(cfg, ck);
}

engine::PixelValues pixels(const engine::ModelConfig& cfg, int gh, int gw) {
    const auto& vc = *cfg.vision;
    const std::int64_t cols =
        std::int64_t(3) * vc.temporal_patch_size * vc.patch_size * vc.patch_size;
    return deskpilot::test::cuda::random_pixels(gh, gw, cols, 7);
}

std::vector<std::int32_t> prompt(std::int64_t n, std::int64_t vocab) {
    std::vector<std::int32_t> ids;
    for (std::int64_t i = 0; i < n; ++i) ids.push_back(std::int32_t((i * 37 + 11) % vocab));
    return ids;
}

void mem_limit(const engine::ModelConfig& cfg, const std::shared_ptr<engine::Checkpoint>& ck) {
    engine::VlModel host(cfg, ck);
    std::size_t weights = 0;
    {
        const auto m = cuda::CudaTextModel::upload(host.text(), *ck);
        weights = cuda::memory_in_use();
    }
    expect(cuda::memory_in_use() == 0, "every buffer given back after the model");
    std::printf("  decoder weights, cuBLAS workspace (and the first scratch): %zu bytes\n",
                weights);

    setenv("DESKPILOT_CUDA_MEM_LIMIT", "4K", 1);
    const std::string w =
        error_of<cuda::CudaError>([&] { cuda::CudaTextModel::upload(host.text(), *ck); });
    std::printf("  4K cap, upload: %s\n", w.c_str());
    expect(has(w, "CUDA: out of memory allocating ") && has(w, " bytes (") && has(w, "for '") &&
               has(w, "free under DESKPILOT_CUDA_MEM_LIMIT (4096 bytes)"),
           "weights upload under a 4K cap: one out-of-memory error naming the buffer");
    expect(cuda::memory_in_use() == 0, "nothing left counted after the failed upload");

    // Room for the weights and a short cache, not for a long one.
    setenv("DESKPILOT_CUDA_MEM_LIMIT", std::to_string(weights + (256 << 10)).c_str(), 1);
    const auto m = cuda::CudaTextModel::upload(host.text(), *ck);
    m->reset(16);
    const std::vector<std::int32_t> ids = prompt(8, cfg.text.vocab_size);
    const std::vector<float> before = m->forward(ids, engine::Positions::text(0, 8));
    const std::string kv = error_of<cuda::CudaError>([&] { m->reserve(1 << 20); });
    std::printf("  cap of weights + 256K, KV cache for 1M tokens: %s\n", kv.c_str());
    expect(has(kv, "out of memory allocating") && has(kv, "'KV cache"), "KV cache growth names it");
    m->reset(16);
    const std::vector<float> after = m->forward(ids, engine::Positions::text(0, 8));
    expect(after == before, "the model runs as before after the failed growth");

    if (cfg.vision) {
        unsetenv("DESKPILOT_CUDA_MEM_LIMIT");
        const std::size_t used = cuda::memory_in_use();
        const auto tower = gpu_tower(cfg, *ck);
        const std::size_t tower_weights = cuda::memory_in_use() - used;
        setenv("DESKPILOT_CUDA_MEM_LIMIT", std::to_string(used + tower_weights + 4096).c_str(), 1);
        const std::string v = error_of<cuda::CudaError>([&] { tower->encode(pixels(cfg, 8, 8)); });
        std::printf("  cap of weights + 4K, vision pass: %s\n", v.c_str());
        expect(has(v, "out of memory allocating"), "vision scratch names its buffer");
        unsetenv("DESKPILOT_CUDA_MEM_LIMIT");
        expect(tower->encode(pixels(cfg, 8, 8)).tokens == 16, "the tower runs after it");
    }

    setenv("DESKPILOT_CUDA_MEM_LIMIT", "12Q", 1);
    const std::string q =
        error_of<cuda::CudaError>([&] { cuda::CudaTextModel::upload(host.text(), *ck); });
    std::printf("  12Q: %s\n", q.c_str());
    expect(has(q, "DESKPILOT_CUDA_MEM_LIMIT '12Q' has an unknown unit"), "a malformed cap");
    unsetenv("DESKPILOT_CUDA_MEM_LIMIT");
}

// A stop check that says stop on its (n+1)-th question and counts them.
struct StopAfter {
    int n, asked = 0;
    bool operator()() { return ++asked > n; }
};

void cancel(const engine::ModelConfig& cfg, const std::shared_ptr<engine::Checkpoint>& ck) {
    engine::VlModel host(cfg, ck);
    const auto m = cuda::CudaTextModel::upload(host.text(), *ck);
    const std::int64_t S = 24;
    const std::vector<std::int32_t> ids = prompt(S, cfg.text.vocab_size);
    const engine::Positions pos = engine::Positions::text(0, S);
    m->reset(2 * S);
    const std::vector<float> want = m->forward(ids, pos);
    const int L = cfg.text.num_layers;
    for (int n = 0; n < L; ++n) {
        m->reset(2 * S);
        StopAfter stop{n};
        bool stopped = false;
        try {
            const cpu::StopScope scope([&] { return stop(); });
            m->forward(ids, pos);
        } catch (const cpu::Stopped&) {
            stopped = true;
        }
        std::printf("  prefill of %lld tokens, stop after %d of %d layers: %s after %d checks\n",
                    (long long)S, n, L, stopped ? "stopped" : "NOT stopped", stop.asked);
        expect(stopped && stop.asked == n + 1 && m->length() == 0,
               "stopped within one layer, nothing cached");
        const std::vector<float> again = m->forward(ids, pos);
        expect(again == want, "the same prompt then gives the unstopped logits");
    }
    {  // a decode step is not synchronised per layer: it is checked between tokens
        StopAfter stop{0};
        const cpu::StopScope scope([&] { return stop(); });
        const std::int32_t one[1] = {ids[0]};
        m->forward(one, engine::Positions::text(m->length(), 1));
        expect(stop.asked == 0, "a decode step asks nothing (checked between tokens)");
    }
    if (cfg.vision) {
        const auto tower = gpu_tower(cfg, *ck);
        const engine::PixelValues px = pixels(cfg, 8, 8);
        const engine::VisionFeatures full = tower->encode(px);
        const int depth = cfg.vision->depth;
        for (int n = 0; n < depth; n += depth - 1) {
            StopAfter stop{n};
            bool stopped = false;
            try {
                const cpu::StopScope scope([&] { return stop(); });
                tower->encode(px);
            } catch (const cpu::Stopped&) {
                stopped = true;
            }
            std::printf("  vision tower, stop after %d of %d blocks: %s after %d checks\n", n,
                        depth, stopped ? "stopped" : "NOT stopped", stop.asked);
            expect(stopped && stop.asked == n + 1, "stopped within one block");
        }
        expect(tower->encode(px).merged == full.merged, "the tower then gives the same features");
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: limits_check mem_limit|cancel TINY_DIR\n");
        return 2;
    }
    const std::string mode = argv[1];
    const std::filesystem::path tiny = argv[2];
    const engine::ModelConfig cfg = engine::load_model_config(tiny);
    const auto ck = std::make_shared<engine::Checkpoint>(tiny);
    std::printf("%s, %s:\n", mode.c_str(), engine::architecture_name(cfg.architecture));
    if (mode == "mem_limit")
        mem_limit(cfg, ck);
    else if (mode == "cancel")
        cancel(cfg, ck);
    else
        return 2;
    std::printf("%s\n", bad ? "FAIL" : "ok");
    return bad ? 1 : 0;
}
