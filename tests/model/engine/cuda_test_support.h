// What the CUDA parity tests (test_cuda_vlm.cpp, test_cuda_vision.cpp, test_cuda_qwen2_5.cpp)
// and the host emulator's checks (tools/cuda_host_emu/*_check.cpp) share: the no-GPU skip, the
// relative error they compare with, and the bf16-rounded copies of the tiny checkpoints that both
// devices then run (the GPU uploads bf16, so rounding the weights first leaves the tolerance to
// cover only the GPU's bf16 activations). Plain C++ (no Qt) so the emulator can use it; CLOSE and
// SKIP_WITHOUT_GPU expand to Qt Test macros only where a test uses them.
#pragma once

#include <stdlib.h>  // mkdtemp

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "model/engine/cuda/device.h"
#include "model/engine/dtype.h"
#include "model/engine/safetensors.h"
#include "model/engine/vision/preprocess.h"
#include "tests/model/engine/safetensors_writer.h"

namespace deskpilot::test::cuda {

inline bool no_gpu() {
    return !model::cuda::compiled_in() || model::cuda::devices().empty();
}

// What the error is measured against: logits against 1 + their peak (large values, near-zero
// ones do not blow up the ratio), vision features against their own peak (small on random
// weights).
enum class Scale { one_plus_peak, peak };

// max |a - b| / (1 + max |b|) or max |a - b| / max |b|; infinite when the sizes differ, b is
// empty (or all zero at Scale::peak), or a holds a non-finite value.
inline float rel_err(const std::vector<float>& a, const std::vector<float>& b,
                     Scale scale = Scale::one_plus_peak) {
    if (a.size() != b.size() || a.empty()) return INFINITY;
    float worst = 0, mag = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (!std::isfinite(a[i])) return INFINITY;
        worst = std::max(worst, std::fabs(a[i] - b[i]));
        mag = std::max(mag, std::fabs(b[i]));
    }
    if (scale == Scale::peak) return mag > 0 ? worst / mag : INFINITY;
    return worst / (1.0f + mag);
}

// n normal values (mean 0, standard deviation `scale`) from std::mt19937(seed).
inline std::vector<float> randn(std::size_t n, unsigned seed, float scale = 1.0f) {
    std::mt19937 g(seed);
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = d(g);
    return v;
}

// How a bf16 copy stores each tensor. Every value is rounded to bf16; tensors whose name contains
// `keep_f32` stay F32 (the vision towers: the CPU tower reads f32), the others are stored as BF16
// (the decoder). An empty `keep_f32` keeps every tensor F32. `qkv_scale` multiplies the vision
// attention's qkv weights (a power of 2 is exact in bf16): the tiny random weights give
// near-uniform attention, blind to the rotary and the windows; sharper scores make them matter.
struct Bf16Policy {
    std::string keep_f32;
    float qkv_scale = 1.0f;
};

// Writes `dst`, a copy of safetensors file `src` under `policy`.
inline void write_bf16_copy(const std::filesystem::path& src, const std::filesystem::path& dst,
                            const Bf16Policy& policy) {
    namespace engine = model::engine;
    const engine::Checkpoint ck(src);
    std::vector<RawTensor> out;
    for (const std::string& name : ck.names()) {
        const engine::Tensor t = ck.get(name).to_f32();
        const float* f = t.data<float>();
        const float scale = name.find("attn.qkv") != std::string::npos ? policy.qkv_scale : 1.0f;
        RawTensor r{name, "F32", t.shape(), {}};
        if (name.find(policy.keep_f32) != std::string::npos) {
            std::vector<float> v(f, f + t.numel());
            for (float& x : v) x = engine::bf16_to_f32(engine::f32_to_bf16(x)) * scale;
            r.bytes = as_bytes(v);
        } else {
            std::vector<std::uint16_t> bf(std::size_t(t.numel()));
            for (std::size_t i = 0; i < bf.size(); ++i) bf[i] = engine::f32_to_bf16(f[i] * scale);
            r.dtype = "BF16";
            r.bytes = as_bytes(bf);
        }
        out.push_back(std::move(r));
    }
    write_safetensors(dst, out);
}

// A checkpoint folder in a fresh temporary directory (removed on destruction): model.safetensors
// the bf16 copy of `src_dir`'s under `policy`, config.json from `src_dir`, tokenizer.json from
// `tokenizer_dir` (default `src_dir`).
struct Bf16Folder {
    std::filesystem::path dir;
    Bf16Folder(const std::filesystem::path& src_dir, const Bf16Policy& policy,
               std::filesystem::path tokenizer_dir = {}) {
        std::string tmpl = (std::filesystem::temp_directory_path() / "deskpilot_bf16_XXXXXX");
        if (mkdtemp(tmpl.data()) == nullptr)
            throw std::runtime_error("Bf16Folder: cannot make a temporary directory " + tmpl);
        dir = tmpl;
        if (tokenizer_dir.empty()) tokenizer_dir = src_dir;
        write_bf16_copy(src_dir / "model.safetensors", dir / "model.safetensors", policy);
        std::filesystem::copy_file(src_dir / "config.json", dir / "config.json");
        std::filesystem::copy_file(tokenizer_dir / "tokenizer.json", dir / "tokenizer.json");
    }
    ~Bf16Folder() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
    Bf16Folder(const Bf16Folder&) = delete;
    Bf16Folder& operator=(const Bf16Folder&) = delete;
};

// Normal random pixels on a 1 × gh × gw grid of `cols` values a patch. With `still_frames`, every
// temporal frame of a patch is a copy of its first (a still image: the CPU towers then multiply
// weights pre-summed over the frames, the GPU the full Conv3d weight).
inline model::engine::PixelValues random_pixels(int gh, int gw, std::int64_t cols, unsigned seed,
                                                int still_frames = 0, std::int64_t patch_area = 0) {
    model::engine::PixelValues px;
    px.grid_thw = {1, gh, gw};
    px.rows = std::int64_t(gh) * gw;
    px.cols = cols;
    px.data.resize(std::size_t(px.rows * cols));
    std::mt19937 g(seed);
    std::normal_distribution<float> d;
    for (float& f : px.data) f = d(g);
    for (std::int64_t r = 0; still_frames > 1 && r < px.rows; ++r)
        for (std::int64_t ch = 0; ch < 3; ++ch)
            for (std::int64_t t = 1; t < still_frames; ++t)
                std::copy_n(&px.data[std::size_t(r * cols + ch * still_frames * patch_area)],
                            patch_area,
                            &px.data[std::size_t(r * cols + (ch * still_frames + t) * patch_area)]);
    return px;
}

}  // namespace deskpilot::test::cuda

// QVERIFY that rel_err(a, b) (logits scale) is at most tol, printing the error when it is not.
#define CLOSE(a, b, tol)                                                         \
    do {                                                                         \
        const float e_ = deskpilot::test::cuda::rel_err(a, b);                   \
        QVERIFY2(e_ <= (tol), qPrintable(QString("relative error %1").arg(e_))); \
    } while (0)

// The first line of every gpu-only test function.
#define SKIP_WITHOUT_GPU()                                                      \
    do {                                                                        \
        if (deskpilot::test::cuda::no_gpu())                                    \
            QSKIP("no CUDA device on this machine (or no CUDA in this build)"); \
    } while (0)
