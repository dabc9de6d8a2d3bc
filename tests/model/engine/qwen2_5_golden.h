// Shared by the Qwen2.5-VL golden tests: the tiny checkpoint's folder
// (tools/golden/qwen2_5_vl_golden.py) and readers for its stored reference tensors.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "model/engine/arch/text_decoder.h"
#include "vision_golden.h"

namespace deskpilot::testing::qwen2_5_golden {

using vision_golden::golden;
using vision_golden::mismatch;

inline const std::filesystem::path kDir =
    std::filesystem::path(DESKPILOT_TEST_DATA_DIR) / "engine/qwen2_5_vl_tiny";

inline std::vector<std::int32_t> golden_ids(const model::engine::Checkpoint& ck,
                                            const std::string& name) {
    std::vector<std::int32_t> out;
    for (float f : golden(ck, name)) out.push_back(std::int32_t(f));
    return out;
}

// A [3, S] tensor of T/H/W rows.
inline model::engine::Positions golden_positions(const model::engine::Checkpoint& ck,
                                                 const std::string& name) {
    const auto p = golden(ck, name);
    const std::size_t n = p.size() / 3;
    model::engine::Positions out;
    for (std::size_t i = 0; i < n; ++i) {
        out.t.push_back(std::int64_t(p[i]));
        out.h.push_back(std::int64_t(p[n + i]));
        out.w.push_back(std::int64_t(p[2 * n + i]));
    }
    return out;
}

}  // namespace deskpilot::testing::qwen2_5_golden
