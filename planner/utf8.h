// UTF-8 helpers: well-formedness and lossy repair (the parser's error excerpts, the engine's
// tokenizer and its streaming decoder).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace deskpilot::planner::utf8 {

// Offset of the first byte that is not part of well-formed UTF-8, or npos if all is valid.
std::size_t first_invalid(std::string_view s);

// Appends `bytes` to `out`, replacing each maximal ill-formed subsequence with U+FFFD (the
// rule Rust's from_utf8_lossy and Python's "replace" follow). If `keep_incomplete_tail`, a
// truncated but so far valid sequence at the very end is not replaced; its length is returned
// so a streaming caller can hold it back. Otherwise returns 0.
std::size_t append_lossy(std::string& out, std::string_view bytes, bool keep_incomplete_tail);

// Appends the UTF-8 encoding of a code point.
void append_code_point(std::string& out, char32_t cp);

}  // namespace deskpilot::planner::utf8
