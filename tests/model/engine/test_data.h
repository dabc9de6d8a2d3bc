// Test data helpers for the engine suites: the committed Qwen3 tokenizer is gzip-compressed.
#pragma once

#include <zlib.h>

#include <stdexcept>
#include <string>

#include "model/engine/tokenizer.h"

namespace deskpilot::test {

inline std::string gunzip_file(const std::string& path) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) throw std::runtime_error(path + ": cannot open");
    std::string out;
    char buf[1 << 16];
    int n;
    while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, std::size_t(n));
    gzclose(f);
    if (n < 0) throw std::runtime_error(path + ": corrupt gzip data");
    return out;
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
