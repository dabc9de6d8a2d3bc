// Runs model/engine/cuda/vision_qwen2_5.cpp (CudaQwen25Vision) on the host: its own host code, the
// real kernels.cu, vision_kernels.cu and flash_attention.cu kernels under prelude.h's emulation
// (separate objects, see run.sh) and engine_standins.h for DeviceBuffer, Stream and Blas.
// Compared with the CPU tower (Qwen25VisionModel) on the tiny checkpoint with its weights rounded
// to bf16 (qkv ×QKV_SCALE, default 4, so the attention is sharp enough for the windows and the
// rotary to matter), on grids with whole and partial windows, and a still image (both frames
// equal: the CPU tower then multiplies pre-summed weights, the GPU the full Conv3d weight).
#define EMU_WITH_ENGINE
#include <cstdio>
#include <random>

#include "engine_standins.h"
#include "model/engine/cuda/vision_qwen2_5.h"
#include "model/engine/vision/qwen2_5_vision.h"
#include "tests/model/engine/cuda_test_support.h"

namespace engine = deskpilot::model::engine;

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: vision_qwen2_5_check TINY_DIR OUT_DIR\n");
        return 2;
    }
    const std::filesystem::path tiny = argv[1], out = argv[2];
    const float qkv_scale =
        std::getenv("QKV_SCALE") ? std::strtof(std::getenv("QKV_SCALE"), nullptr) : 4.0f;
    deskpilot::test::cuda::write_bf16_copy(
        tiny / "model.safetensors", out / "bf16_vision.safetensors", {.qkv_scale = qkv_scale});
    const auto ck = std::make_shared<const engine::Checkpoint>(out / "bf16_vision.safetensors");
    const engine::ModelConfig cfg = engine::load_model_config(tiny);
    const engine::Qwen25VisionModel cpu(cfg, ck);
    const deskpilot::model::cuda::CudaQwen25Vision gpu(cfg, *ck);
    const auto& vc = *cfg.vision;
    const std::int64_t p2 = std::int64_t(vc.patch_size) * vc.patch_size,
                       cols = 3 * vc.temporal_patch_size * p2;
    int bad = 0;
    struct Case {
        int gh, gw;
        bool still;
    };
    // Window side: 4 merged patches (8 patches) on the tiny config.
    for (const Case c : {Case{10, 14, false}, Case{8, 8, false}, Case{16, 12, false},
                         Case{4, 6, false}, Case{18, 10, true}}) {
        const engine::PixelValues px = deskpilot::test::cuda::random_pixels(
            c.gh, c.gw, cols, unsigned(c.gh * 100 + c.gw),
            c.still ? int(vc.temporal_patch_size) : 0, p2);  // still: every frame the first
        const engine::VisionFeatures want = cpu.encode(px), got = gpu.encode(px);
        const float e = deskpilot::test::cuda::rel_err(got.merged, want.merged,
                                                       deskpilot::test::cuda::Scale::peak);
        std::printf("qwen2.5 tower %2dx%-2d%s merged %.3g (%lld tokens)\n", c.gh, c.gw,
                    c.still ? " still" : "      ", e, (long long)got.tokens);
        bad += !(e < 2e-2f) || got.tokens != want.tokens || !got.deepstack.empty();
    }
    std::printf("%s\n", bad ? "FAIL" : "ok");
    return bad;
}
