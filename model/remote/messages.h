// Pieces of the error messages the remote client gives: what the server said, the first bytes
// of an answer we could not read, hints for errors we recognise, and secret redaction.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deskpilot::model::remote {

// The human message inside an error body: {"error":{"message":…}} (OpenAI, vLLM, llama.cpp),
// {"message":…} (older vLLM), {"error":"…"} (Ollama), {"detail":…} (FastAPI). Falls back to the
// start of the body itself; empty for an empty body.
std::string server_message(std::string_view body);

// The first `limit` bytes of a body, quoted, with control and non-ASCII bytes escaped, and the
// total size when it was cut: "'<html>\n<h…' (1432 bytes)".
std::string first_bytes(std::string_view body, std::size_t limit = 160);

// A hint for a 400 whose message we recognise (vLLM's per-prompt image limit, a context that is
// too long), given how many images the request carried.
std::optional<std::string> bad_request_hint(std::string_view message, int images_sent);

// `text` with every occurrence of each non-empty secret replaced by "[redacted]".
std::string redact(std::string text, const std::vector<std::string>& secrets);

}  // namespace deskpilot::model::remote
