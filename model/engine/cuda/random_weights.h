// Random weights generated on the device, for the benchmarks at real shapes without a checkpoint
// (text_weights.cpp's synthetic decoder, vision_synthetic.cpp's towers). One generator for both,
// so a seed means the same thing everywhere: every tensor asked for takes the next of a sequence
// of sub-seeds, and its values are k::fill_random_bf16's (splitmix64 of seed and index).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/engine/cuda/buffer.h"

namespace deskpilot::model::cuda {

class RandomWeights {
  public:
    // Launches on `stream`; the caller synchronises it before using the buffers elsewhere.
    RandomWeights(std::uint64_t seed, const Stream& stream) : next_(seed), stream_(stream) {}

    // `count` bf16 values uniform in [-1/√fan_in, 1/√fan_in) (a linear layer's weights keep
    // activations at their scale), in a buffer named `name`.
    DeviceBuffer bf16(std::int64_t count, std::int64_t fan_in, const std::string& name);
    // `count` f32 values all `value` (norm weights 1, biases 0).
    DeviceBuffer f32(std::int64_t count, float value, const std::string& name);
    // The same values bf16() would generate, widened to f32 on the host (tables the host reads,
    // such as Qwen3-VL's learned position table). Synchronises the stream.
    std::vector<float> host_f32(std::int64_t count, std::int64_t fan_in, const std::string& name);

  private:
    std::uint64_t next_;
    const Stream& stream_;
};

}  // namespace deskpilot::model::cuda
