// Synthetic checkpoints for the engine benchmarks: a safetensors file of the given tensors in
// bf16 with reproducible random values (xorshift), norms near 1 and matrices uniform in
// ±scale — real shapes without downloading a model.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "model/engine/dtype.h"

namespace deskpilot::bench {

struct TensorSpec {
    std::string name;
    std::vector<std::int64_t> shape;
    bool norm = false;    // 1 ± 0.1
    float scale = 0.03f;  // otherwise uniform in ±scale
};

inline void write_random_bf16(const std::filesystem::path& file,
                              const std::vector<TensorSpec>& specs) {
    std::string header = "{";
    std::uint64_t off = 0;
    for (std::size_t i = 0; i < specs.size(); ++i) {
        std::uint64_t n = 2;
        std::string shape;
        for (auto d : specs[i].shape) {
            n *= std::uint64_t(d);
            shape += (shape.empty() ? "" : ",") + std::to_string(d);
        }
        header += (i ? "," : "") + std::string("\"") + specs[i].name +
                  "\":{\"dtype\":\"BF16\",\"shape\":[" + shape + "],\"data_offsets\":[" +
                  std::to_string(off) + "," + std::to_string(off + n) + "]}";
        off += n;
    }
    header += "}";
    while ((8 + header.size()) % 8) header += ' ';
    std::ofstream out(file, std::ios::binary);
    const std::uint64_t len = header.size();
    out.write(reinterpret_cast<const char*>(&len), 8);
    out.write(header.data(), std::streamsize(header.size()));
    std::uint64_t state = 88172645463325252ull;
    std::vector<std::uint16_t> buf(1 << 20);
    for (const auto& s : specs) {
        std::uint64_t n = 1;
        for (auto d : s.shape) n *= std::uint64_t(d);
        while (n) {
            const std::size_t c = std::size_t(std::min<std::uint64_t>(n, buf.size()));
            for (std::size_t i = 0; i < c; ++i) {
                state ^= state << 13, state ^= state >> 7, state ^= state << 17;
                const float u = float(state >> 40) / float(1 << 24) * 2.0f - 1.0f;
                buf[i] = model::engine::f32_to_bf16(s.norm ? 1.0f + 0.1f * u : s.scale * u);
            }
            out.write(reinterpret_cast<const char*>(buf.data()), std::streamsize(c * 2));
            n -= c;
        }
    }
}

}  // namespace deskpilot::bench
