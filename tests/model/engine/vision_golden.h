// Shared by the Qwen3-VL vision and full-VLM golden tests: the tiny checkpoint's folder, its
// stored reference tensors, and the tolerance check they use.
#pragma once

#include <QString>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "model/engine/safetensors.h"

namespace deskpilot::testing::vision_golden {

inline const std::filesystem::path kDir =
    std::filesystem::path(DESKPILOT_TEST_DATA_DIR) / "engine/qwen3_vl_moe_vision_tiny";

inline std::vector<float> golden(const model::engine::Checkpoint& ck, const std::string& name) {
    const model::engine::Tensor t = ck.get(name).to_f32();
    return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

// |a - b| <= rtol·|b| + atol·max|b| elementwise; the reason for the first violation otherwise.
inline QString mismatch(const float* a, const std::vector<float>& b, double rtol = 1e-4,
                        double atol = 1e-5) {
    double scale = 1;
    for (float v : b) scale = std::max(scale, double(std::fabs(v)));
    for (std::size_t i = 0; i < b.size(); ++i)
        if (!(std::fabs(double(a[i]) - b[i]) <= rtol * std::fabs(b[i]) + atol * scale))
            return QString("element %1: %2 vs %3").arg(i).arg(a[i]).arg(b[i]);
    return {};
}

}  // namespace deskpilot::testing::vision_golden
