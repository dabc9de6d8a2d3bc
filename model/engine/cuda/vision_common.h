// What the CUDA vision towers (vision_model.cpp: Qwen3-VL, vision_qwen2_5.cpp: Qwen2.5-VL) share:
// bias-carrying linear layers uploaded as bf16 (bias f32) and a runner holding one stream, the
// cuBLAS handle and named device scratch that grows on demand. Host code only (no kernels).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/engine/cuda/buffer.h"
#include "model/engine/cuda/gemm.h"
#include "model/engine/cuda/kernels.h"
#include "model/engine/cuda/vision_kernels.h"
#include "model/engine/dtype.h"
#include "model/engine/vision/vision_blocks.h"

namespace deskpilot::model::cuda::vision_tower {

inline DeviceBuffer f32_buffer(const std::vector<float>& v, const std::string& name) {
    DeviceBuffer b(v.size() * sizeof(float), name);
    b.upload(v.data(), b.bytes());
    return b;
}

// A checkpoint tensor (any dtype) as a bf16 device buffer (as text_weights.cpp uploads).
inline DeviceBuffer bf16_buffer(const engine::Tensor& t, const std::string& name) {
    const engine::Tensor f = t.to_f32();
    std::vector<std::uint16_t> bf(std::size_t(f.numel()));
    for (std::size_t i = 0; i < bf.size(); ++i) bf[i] = engine::f32_to_bf16(f.data<float>()[i]);
    DeviceBuffer b(bf.size() * 2, name);
    b.upload(bf.data(), b.bytes());
    return b;
}

struct Linear {
    DeviceBuffer w, b;  // bf16 [out, in] (nn.Linear), f32 [out]
    std::int64_t out = 0, in = 0;
};

// `name`.weight [out, in] and `name`.bias [out] of the tower (names and shapes checked by W).
inline Linear upload_linear(const engine::vblocks::VisionWeights& W, const std::string& name,
                            std::int64_t out, std::int64_t in) {
    Linear l;
    l.w = bf16_buffer(W.need(name + ".weight", {out, in}), name + ".weight");
    l.b = f32_buffer(W.vec(name + ".bias", out), name + ".bias");
    l.out = out;
    l.in = in;
    return l;
}

struct Runner {
    int device = 0;
    Stream stream;
    Blas blas{stream.get()};
    std::unordered_map<std::string, DeviceBuffer> scratch;

    void* s() const { return stream.get(); }

    template <typename T>
    T* tmp(const std::string& name, std::int64_t count) {
        DeviceBuffer& b = scratch[name];
        const std::size_t need = std::size_t(std::max<std::int64_t>(count, 1)) * sizeof(T);
        if (b.bytes() < need) {
            stream.sync("vision scratch resize");
            b = DeviceBuffer(need, "vision scratch " + name);
        }
        return b.as<T>();
    }

    // y [rows, out] = x [rows, in] · Wᵀ + b (x converted to bf16 for cuBLAS); no bias when b is
    // empty.
    void linear(const Linear& l, const float* x, std::int64_t rows, float* y) {
        std::uint16_t* xb = tmp<std::uint16_t>("bf16 in", rows * l.in);
        k::to_bf16(x, xb, rows * l.in, s());
        blas.linear(xb, rows, l.in, l.w.as<const std::uint16_t>(), engine::cpu::Layout::out_in,
                    l.out, l.in, y);
        if (l.b.bytes() > 0) k::add_bias(y, l.b.as<const float>(), rows, l.out, s());
    }
};

}  // namespace deskpilot::model::cuda::vision_tower
