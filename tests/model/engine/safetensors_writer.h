// Writes safetensors files for tests: good ones from tensors, and deliberately broken ones
// from a raw header text.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace deskpilot::test {

inline void write_raw_safetensors(const std::filesystem::path& path, const std::string& header,
                                  const std::vector<std::uint8_t>& data,
                                  std::uint64_t declared_len = UINT64_MAX) {
    std::ofstream out(path, std::ios::binary);
    const std::uint64_t n = declared_len == UINT64_MAX ? header.size() : declared_len;
    for (int i = 0; i < 8; ++i) out.put(char((n >> (8 * i)) & 0xff));
    out.write(header.data(), std::streamsize(header.size()));
    out.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
}

struct RawTensor {
    std::string name;
    std::string dtype;  // F32, BF16, ...
    std::vector<std::int64_t> shape;
    std::vector<std::uint8_t> bytes;
};

// Lays the tensors out back to back and pads the header with spaces to a multiple of 8, as
// the reference writer does.
inline void write_safetensors(const std::filesystem::path& path,
                              const std::vector<RawTensor>& tensors) {
    std::string header = "{";
    std::vector<std::uint8_t> data;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        const auto& t = tensors[i];
        std::string shape = "[";
        for (std::size_t k = 0; k < t.shape.size(); ++k)
            shape += (k ? "," : "") + std::to_string(t.shape[k]);
        shape += "]";
        header += (i ? "," : "") + std::string("\"") + t.name + "\":{\"dtype\":\"" + t.dtype +
                  "\",\"shape\":" + shape + ",\"data_offsets\":[" + std::to_string(data.size()) +
                  "," + std::to_string(data.size() + t.bytes.size()) + "]}";
        data.insert(data.end(), t.bytes.begin(), t.bytes.end());
    }
    header += "}";
    while (header.size() % 8) header += ' ';
    write_raw_safetensors(path, header, data);
}

template <typename T>
std::vector<std::uint8_t> as_bytes(const std::vector<T>& v) {
    std::vector<std::uint8_t> b(v.size() * sizeof(T));
    std::memcpy(b.data(), v.data(), b.size());
    return b;
}

}  // namespace deskpilot::test
