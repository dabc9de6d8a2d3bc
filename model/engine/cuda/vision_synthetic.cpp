// The CUDA vision towers with random weights (CudaQwen3Vision::synthetic,
// CudaQwen25Vision::synthetic): the towers' own constructors, asking a TowerWeights for every
// tensor, answered by cuda/random_weights.h (the generator of the synthetic text decoder) instead
// of a checkpoint. For bench/gpu/bench_cuda_prefill at the real models' shapes.
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/engine/cuda/random_weights.h"
#include "model/engine/cuda/vision_common.h"
#include "model/engine/cuda/vision_model.h"
#include "model/engine/cuda/vision_qwen2_5.h"

namespace deskpilot::model::cuda {

namespace {

// Linear weights uniform in ±1/√fan-in (fan-in: a row's width), norm weights ones, biases zeros,
// the learned position table like a linear layer's rows.
class RandomTowerWeights : public vision_tower::TowerWeights {
  public:
    explicit RandomTowerWeights(RandomWeights& random) : random_(random) {}
    DeviceBuffer bf16(const std::vector<std::string>& names, const engine::Shape& shape) override {
        std::int64_t each = 1, fan_in = 1;
        for (std::size_t i = 0; i < shape.size(); ++i) {
            each *= shape[i];
            if (i > 0) fan_in *= shape[i];
        }
        return random_.bf16(std::int64_t(names.size()) * each, fan_in, vision_tower::joined(names));
    }
    DeviceBuffer f32(const std::vector<std::string>& names, std::int64_t n) override {
        const std::string& first = names.front();
        const bool bias = first.size() >= 5 && first.compare(first.size() - 5, 5, ".bias") == 0;
        return random_.f32(std::int64_t(names.size()) * n, bias ? 0.0f : 1.0f,
                           vision_tower::joined(names));
    }
    std::vector<float> host(const std::string& name, const engine::Shape& shape) override {
        std::int64_t count = 1;
        for (std::int64_t d : shape) count *= d;
        return random_.host_f32(count, shape.back(), name);
    }

  private:
    RandomWeights& random_;
};

template <typename Tower>
std::unique_ptr<Tower> synthetic_tower(const engine::ModelConfig& config, std::uint64_t seed,
                                       int device) {
    require_device(device);
    check(cudaSetDevice(device), "cudaSetDevice");
    const Stream stream;
    RandomWeights random(seed, stream);
    RandomTowerWeights weights(random);
    auto tower = std::make_unique<Tower>(config, weights, device);
    stream.sync("synthetic vision weights");  // the tower's own stream does not wait for this one
    return tower;
}

}  // namespace

std::unique_ptr<CudaQwen3Vision> CudaQwen3Vision::synthetic(const engine::ModelConfig& config,
                                                            std::uint64_t seed, int device) {
    return synthetic_tower<CudaQwen3Vision>(config, seed, device);
}

std::unique_ptr<CudaQwen25Vision> CudaQwen25Vision::synthetic(const engine::ModelConfig& config,
                                                              std::uint64_t seed, int device) {
    return synthetic_tower<CudaQwen25Vision>(config, seed, device);
}

}  // namespace deskpilot::model::cuda
