// A file's bytes, gunzipped when it is gzip data (the committed Qwen3 tokenizer is
// tests/data/engine/qwen3-tokenizer/tokenizer.json.gz) and as they are otherwise.
#pragma once

#include <zlib.h>

#include <stdexcept>
#include <string>

namespace deskpilot::bench {

inline std::string read_maybe_gz(const std::string& path) {
    gzFile f = gzopen(path.c_str(), "rb");  // reads plain files too
    if (!f) throw std::runtime_error(path + ": cannot open");
    std::string out;
    char buf[1 << 16];
    int n;
    while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, std::size_t(n));
    gzclose(f);
    if (n < 0) throw std::runtime_error(path + ": corrupt gzip data");
    return out;
}

}  // namespace deskpilot::bench
