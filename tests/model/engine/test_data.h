// Test data helpers for the engine suites: the committed Qwen3 tokenizer is gzip-compressed.
#pragma once

#include <stdexcept>
#include <string>

#include "gz_file.h"  // bench/engine: the benches read the same files
#include "model/engine/tokenizer.h"

namespace deskpilot::test {

inline std::string gunzip_file(const std::string& path) {
    return bench::read_maybe_gz(path);
}

inline std::string qwen3_tokenizer_path() {
    return std::string(DESKPILOT_TEST_DATA_DIR) + "/engine/qwen3-tokenizer/tokenizer.json.gz";
}

inline const model::engine::Tokenizer& qwen3_tokenizer() {
    static const model::engine::Tokenizer t = model::engine::Tokenizer::from_json(
        gunzip_file(qwen3_tokenizer_path()), "qwen3 tokenizer.json");
    return t;
}

}  // namespace deskpilot::test
