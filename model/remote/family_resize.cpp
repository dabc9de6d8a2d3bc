#include "model/remote/family_resize.h"

#include <array>
#include <utility>

#include "model/vlm.h"

namespace deskpilot::model::remote {

namespace {

struct FamilyResize {
    std::string_view family;
    std::optional<vision::SmartResizeParams> params;
};

// UI-TARS 1.0 and 1.5 are Qwen2-VL / Qwen2.5-VL fine-tunes whose own processor config allows up
// to 16384·28² pixels; 1.5 answers in pixels of exactly this size, so it must match.
constexpr std::array<FamilyResize, 5> kTable{{
    {"ui-tars-1.0", vision::kUiTarsResize},
    {"ui-tars-1.5", vision::kUiTarsResize},
    {"qwen2.5-vl", vision::kQwen25VlResize},
    {"qwen3-vl", vision::kQwen3VlResize},
    {"doubao", std::nullopt},
}};

}  // namespace

std::optional<vision::SmartResizeParams> resize_params_for_family(std::string_view family) {
    if (family.empty()) return std::nullopt;
    for (const auto& entry : kTable)
        if (entry.family == family) return entry.params;
    throw ModelError("unknown model family '" + std::string(family) +
                     "' (known: " + known_families() + ")");
}

std::string known_families() {
    std::string names;
    for (const auto& entry : kTable) {
        if (!names.empty()) names += ", ";
        names += entry.family;
    }
    return names;
}

}  // namespace deskpilot::model::remote
