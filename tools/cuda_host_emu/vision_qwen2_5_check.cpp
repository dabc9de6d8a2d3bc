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
#include "tests/model/engine/safetensors_writer.h"

namespace engine = deskpilot::model::engine;

static float rel_err(const std::vector<float>& a, const std::vector<float>& b) {
    float worst = 0, mag = 0;
    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
        if (!std::isfinite(a[i])) return INFINITY;
        worst = std::max(worst, std::fabs(a[i] - b[i]));
        mag = std::max(mag, std::fabs(b[i]));
    }
    return a.size() == b.size() && mag > 0 ? worst / mag : INFINITY;
}

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: vision_qwen2_5_check TINY_DIR OUT_DIR\n");
        return 2;
    }
    const std::filesystem::path tiny = argv[1], out = argv[2];
    const float qkv_scale =
        std::getenv("QKV_SCALE") ? std::strtof(std::getenv("QKV_SCALE"), nullptr) : 4.0f;
    {
        const engine::Checkpoint src(tiny / "model.safetensors");
        std::vector<deskpilot::test::RawTensor> ts;
        for (const std::string& name : src.names()) {
            const engine::Tensor t = src.get(name).to_f32();
            std::vector<float> v(t.data<float>(), t.data<float>() + t.numel());
            const float scale = name.find("attn.qkv") != std::string::npos ? qkv_scale : 1.0f;
            for (float& f : v) f = engine::bf16_to_f32(engine::f32_to_bf16(f)) * scale;
            ts.push_back({name, "F32", t.shape(), deskpilot::test::as_bytes(v)});
        }
        deskpilot::test::write_safetensors(out / "bf16_vision.safetensors", ts);
    }
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
        engine::PixelValues px;
        px.grid_thw = {1, c.gh, c.gw};
        px.rows = std::int64_t(c.gh) * c.gw;
        px.cols = cols;
        px.data.resize(std::size_t(px.rows * cols));
        std::mt19937 g(unsigned(c.gh * 100 + c.gw));
        std::normal_distribution<float> d;
        for (float& f : px.data) f = d(g);
        if (c.still)  // every temporal frame a copy of the first
            for (std::int64_t r = 0; r < px.rows; ++r)
                for (std::int64_t ch = 0; ch < 3; ++ch)
                    for (std::int64_t t = 1; t < vc.temporal_patch_size; ++t)
                        std::copy_n(
                            &px.data[std::size_t(r * cols + ch * vc.temporal_patch_size * p2)], p2,
                            &px.data[std::size_t(r * cols +
                                                 (ch * vc.temporal_patch_size + t) * p2)]);
        const engine::VisionFeatures want = cpu.encode(px), got = gpu.encode(px);
        const float e = rel_err(got.merged, want.merged);
        std::printf("qwen2.5 tower %2dx%-2d%s merged %.3g (%lld tokens)\n", c.gh, c.gw,
                    c.still ? " still" : "      ", e, (long long)got.tokens);
        bad += !(e < 2e-2f) || got.tokens != want.tokens || !got.deepstack.empty();
    }
    std::printf("%s\n", bad ? "FAIL" : "ok");
    return bad;
}
