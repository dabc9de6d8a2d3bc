#include "model/engine/cuda/random_weights.h"

#include <cmath>

#include "model/engine/cuda/kernels.h"
#include "model/engine/dtype.h"

namespace deskpilot::model::cuda {

DeviceBuffer RandomWeights::bf16(std::int64_t count, std::int64_t fan_in, const std::string& name) {
    DeviceBuffer b(std::size_t(count) * 2, name);
    // The sub-seed sequence synthetic_text_weights has always used (its figures stay comparable).
    k::fill_random_bf16(b.as<std::uint16_t>(), count, (next_ += 0x1234567ull),
                        1.0f / std::sqrt(float(fan_in)), stream_.get());
    return b;
}

DeviceBuffer RandomWeights::f32(std::int64_t count, float value, const std::string& name) {
    DeviceBuffer b(std::size_t(count) * 4, name);
    k::fill_f32(b.as<float>(), count, value, stream_.get());
    return b;
}

std::vector<float> RandomWeights::host_f32(std::int64_t count, std::int64_t fan_in,
                                           const std::string& name) {
    const DeviceBuffer b = bf16(count, fan_in, name);
    stream_.sync(("random weights " + name).c_str());
    std::vector<std::uint16_t> bits(static_cast<std::size_t>(count));
    b.download(bits.data(), bits.size() * 2);
    std::vector<float> out(bits.size());
    for (std::size_t i = 0; i < bits.size(); ++i) out[i] = engine::bf16_to_f32(bits[i]);
    return out;
}

}  // namespace deskpilot::model::cuda
