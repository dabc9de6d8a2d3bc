// Standard base64 (RFC 4648, with padding) for data: URLs.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace deskpilot::model::remote {

std::string base64_encode(std::span<const std::uint8_t> bytes);

}  // namespace deskpilot::model::remote
