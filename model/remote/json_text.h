// Serialising request bodies fast. A request carries up to five screenshots as base64 data URLs
// (about 3 MB of text); nlohmann's dump() escapes and UTF-8-checks them byte by byte, which cost
// 12–30 ms per request here. Base64 needs no escaping, so plain printable-ASCII strings are copied
// as they are and everything else goes through nlohmann. The output is byte-identical to
// json.dump() (compact, no ensure_ascii).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace deskpilot::model::remote {

std::string to_json_text(const nlohmann::json& value);

}  // namespace deskpilot::model::remote
