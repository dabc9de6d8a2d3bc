// Base64 (RFC 4648, with padding) for data: URLs of images in requests and reports.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace deskpilot::vision {

std::string base64_encode(const std::uint8_t* data, std::size_t size);
inline std::string base64_encode(const std::vector<std::uint8_t>& bytes) {
    return base64_encode(bytes.data(), bytes.size());
}
// Returns false (and leaves `out` unspecified) on characters outside the alphabet or bad padding.
bool base64_decode(std::string_view text, std::vector<std::uint8_t>& out);

}  // namespace deskpilot::vision
