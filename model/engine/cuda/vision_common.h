// What the CUDA vision towers (vision_model.cpp: Qwen3-VL, vision_qwen2_5.cpp: Qwen2.5-VL) share:
// bias-carrying linear layers uploaded as bf16 (bias f32) and a runner holding one stream, the
// cuBLAS handle and named device scratch that grows on demand. Host code only (no kernels).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/engine/config.h"
#include "model/engine/cuda/buffer.h"
#include "model/engine/cuda/gemm.h"
#include "model/engine/cuda/kernels.h"
#include "model/engine/cuda/vision_kernels.h"
#include "model/engine/dtype.h"
#include "model/engine/vision/vision_blocks.h"

namespace deskpilot::model::cuda::vision_tower {

// Each tower runs one architecture. Refusing any other config before a weight is read names the
// tower, so a caller that picked the wrong one learns why instead of meeting a missing tensor.
inline const engine::VisionConfig& require_architecture(const engine::ModelConfig& config,
                                                        engine::Architecture arch,
                                                        const std::string& tower) {
    if (!config.vision || config.architecture != arch)
        throw engine::ConfigError(
            "the CUDA " + tower + " vision tower does not run " +
            engine::architecture_name(config.architecture) +
            (config.vision ? " checkpoints" : " configs without a vision_config"));
    return *config.vision;
}

inline DeviceBuffer f32_buffer(const std::vector<float>& v, const std::string& name) {
    DeviceBuffer b(v.size() * sizeof(float), name);
    b.upload(v.data(), b.bytes());
    return b;
}

// A checkpoint tensor (any dtype) as bf16 at byte `offset` of `dst` (as text_weights.cpp uploads).
inline void upload_bf16(DeviceBuffer& dst, std::size_t offset, const engine::Tensor& t) {
    const engine::Tensor f = t.to_f32();
    std::vector<std::uint16_t> bf(std::size_t(f.numel()));
    for (std::size_t i = 0; i < bf.size(); ++i) bf[i] = engine::f32_to_bf16(f.data<float>()[i]);
    dst.upload(bf.data(), bf.size() * 2, offset);
}

inline std::string joined(const std::vector<std::string>& names) {
    std::string s;
    for (const std::string& n : names) s += (s.empty() ? "" : " + ") + n;
    return s;
}

// Where a tower's weights come from, asked for by their checkpoint names (no model.visual.
// prefix): the checkpoint itself, or random values generated on the device (benchmarks at real
// shapes, cuda/vision_synthetic.cpp). The towers' constructors ask for every tensor through it,
// so a synthetic tower has exactly the layout, buffers and kernels of one loaded from a checkpoint.
class TowerWeights {
  public:
    virtual ~TowerWeights() = default;
    // The tensors `names`, each of `shape` (rows first), back to back in one bf16 buffer.
    virtual DeviceBuffer bf16(const std::vector<std::string>& names,
                              const engine::Shape& shape) = 0;
    // The vectors `names` (norm weights, biases), `n` values each, back to back in one f32 buffer.
    virtual DeviceBuffer f32(const std::vector<std::string>& names, std::int64_t n) = 0;
    // A tensor the host reads (Qwen3-VL's learned position table), f32.
    virtual std::vector<float> host(const std::string& name, const engine::Shape& shape) = 0;
};

// The tower's tensors in a checkpoint; VisionWeights checks each name and shape as it is asked
// for (CheckpointError naming the tensor).
class CheckpointTowerWeights : public TowerWeights {
  public:
    explicit CheckpointTowerWeights(const engine::vblocks::VisionWeights& w) : w_(w) {}
    DeviceBuffer bf16(const std::vector<std::string>& names, const engine::Shape& shape) override {
        std::int64_t each = 1;
        for (std::int64_t d : shape) each *= d;
        DeviceBuffer b(names.size() * std::size_t(each) * 2, joined(names));
        for (std::size_t i = 0; i < names.size(); ++i)
            upload_bf16(b, i * std::size_t(each) * 2, w_.need(names[i], shape));
        return b;
    }
    DeviceBuffer f32(const std::vector<std::string>& names, std::int64_t n) override {
        DeviceBuffer b(names.size() * std::size_t(n) * sizeof(float), joined(names));
        for (std::size_t i = 0; i < names.size(); ++i) {
            const std::vector<float> v = w_.vec(names[i], n);
            b.upload(v.data(), v.size() * sizeof(float), i * std::size_t(n) * sizeof(float));
        }
        return b;
    }
    std::vector<float> host(const std::string& name, const engine::Shape& shape) override {
        const engine::Tensor t = w_.need(name, shape).to_f32();
        return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
    }

  private:
    const engine::vblocks::VisionWeights& w_;
};

struct Linear {
    DeviceBuffer w, b;  // bf16 [out, in] (nn.Linear), f32 [out]
    std::int64_t out = 0, in = 0;
};

// `name`.weight [out, in] and `name`.bias [out] of the tower.
inline Linear upload_linear(TowerWeights& W, const std::string& name, std::int64_t out,
                            std::int64_t in) {
    Linear l;
    l.w = W.bf16({name + ".weight"}, {out, in});
    l.b = W.f32({name + ".bias"}, out);
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
