// Runs model/engine/cuda/vision_model.cpp (CudaQwen3Vision) on the host: its own host code,
// the real vision_kernels.cu and flash_attention(_mma).cu kernels under prelude.h's emulation, and
// host stand-ins for what it takes from elsewhere (engine_standins.h: DeviceBuffer on malloc,
// Blas as a bf16 GEMM with f32 accumulation; k::to_bf16 and k::add as loops here). Compared with
// the CPU tower (Qwen3VisionModel) on the tiny checkpoint with its weights rounded to bf16, as the
// gpu test test_engine_cuda_vision does. One translation unit (prelude.h's globals); see run.sh.
#define EMU_WITH_ENGINE
#include <cstdio>
#include <cstdlib>
#include <random>

#include "model/engine/cuda/buffer.h"
#include "model/engine/cuda/gemm.h"
#include "model/engine/cuda/kernels.h"
#include "model/engine/dtype.h"
#include "model/engine/vision/qwen3_vision.h"
#include "tests/model/engine/cuda_test_support.h"
// The kernels, launches rewritten by run.sh, then the tower's host code as is.
#include "fa_emu.cpp"
#include "fam_emu.cpp"
#include "model/engine/cuda/vision_model.cpp"
#include "vk_emu.cpp"

#include "engine_standins.h"

namespace deskpilot::model::cuda {
namespace k {
void to_bf16(const float* x, std::uint16_t* y, std::int64_t n, void*) {
    for (std::int64_t i = 0; i < n; ++i) y[i] = engine::f32_to_bf16(x[i]);
}
void add(float* x, const float* y, std::int64_t n, void*) {
    for (std::int64_t i = 0; i < n; ++i) x[i] += y[i];
}
}  // namespace k
}  // namespace deskpilot::model::cuda

namespace engine = deskpilot::model::engine;
constexpr auto kPeak = deskpilot::test::cuda::Scale::peak;  // features: relative to their peak
static const float kQkvScale =
    std::getenv("QKV_SCALE") ? std::strtof(std::getenv("QKV_SCALE"), nullptr) : 4.0f;

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: vision_tower_check TINY_DIR OUT_DIR\n");
        return 2;
    }
    const std::filesystem::path tiny = argv[1], out = argv[2];
    // The tiny checkpoint with every weight rounded to bf16 (kept f32), qkv ×kQkvScale.
    deskpilot::test::cuda::write_bf16_copy(tiny / "model.safetensors", out / "bf16.safetensors",
                                           {.qkv_scale = kQkvScale});
    const auto ck = std::make_shared<const engine::Checkpoint>(out / "bf16.safetensors");
    const engine::ModelConfig cfg = engine::load_model_config(tiny);
    const engine::Qwen3VisionModel cpu(cfg, ck);
    const deskpilot::model::cuda::CudaQwen3Vision gpu(cfg, *ck);
    const std::int64_t cols = std::int64_t(3) * cfg.vision->temporal_patch_size *
                              cfg.vision->patch_size * cfg.vision->patch_size;
    int bad = 0;
    for (auto [gh, gw] : {std::pair{4, 6}, std::pair{8, 8}, std::pair{10, 2}}) {
        const engine::PixelValues px =
            deskpilot::test::cuda::random_pixels(gh, gw, cols, unsigned(gh * 100 + gw));
        const engine::VisionFeatures want = cpu.encode(px), got = gpu.encode(px);
        float e = deskpilot::test::cuda::rel_err(got.merged, want.merged, kPeak);
        std::printf("tower %dx%d merged %.3g", gh, gw, e);
        bad += !(e < 2e-2f) || got.tokens != want.tokens ||
               got.deepstack.size() != want.deepstack.size();
        for (std::size_t k = 0; k < want.deepstack.size() && k < got.deepstack.size(); ++k) {
            const float dk =
                deskpilot::test::cuda::rel_err(got.deepstack[k], want.deepstack[k], kPeak);
            std::printf("  deepstack %zu %.3g", k, dk);
            bad += !(dk < 2e-2f);
        }
        std::printf("\n");
    }
    std::printf("%s\n", bad ? "FAIL" : "ok");
    return bad;
}
