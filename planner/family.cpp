#include "planner/family.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>

namespace deskpilot::planner {

namespace {

// Qwen2-VL's image processor (UI-TARS-1.0's base): the same bounds as Qwen2.5-VL's.
constexpr vision::SmartResizeParams kQwen2VlResize = vision::kQwen25VlResize;

// Deskpilot's own nano model (tools/train_nano): a Qwen3-VL processor (factor 32) capped at
// 640·400 pixels, so a 1280×800 screen reaches the model as 640×384 (240 image tokens). A nano
// checkpoint trained at another size says so in its preprocessor_config.json, which the native
// engine follows (sized_by_checkpoint).
constexpr vision::SmartResizeParams kDeskpilotNanoResize{32, 65536, 640 * 400, 200.0};

constexpr std::array<ModelFamily, 6> kFamilies{{
    {"ui-tars-1.0", CoordinateSpace::relative_1000, kQwen2VlResize, PromptStyle::ui_tars_1_0,
     "UI-TARS 1.0 (Qwen2-VL): relative 0-1000"},
    {"ui-tars-1.5", CoordinateSpace::resized_absolute, vision::kUiTarsResize,
     PromptStyle::ui_tars_1_5,
     "UI-TARS 1.5 (Qwen2.5-VL): absolute pixels of the smart-resized screenshot"},
    {"qwen2.5-vl", CoordinateSpace::resized_absolute, vision::kQwen25VlResize,
     PromptStyle::ui_tars_1_5, "Qwen2.5-VL: absolute pixels of the smart-resized screenshot"},
    {"qwen3-vl", CoordinateSpace::relative_1000, vision::kQwen3VlResize, PromptStyle::doubao,
     "Qwen3-VL: relative 0-1000"},
    {"doubao", CoordinateSpace::relative_1000, vision::kUiTarsResize, PromptStyle::doubao,
     "Doubao / seed UI-TARS (<point>x y</point>): relative 0-1000"},
    {"deskpilot-nano", CoordinateSpace::resized_absolute, kDeskpilotNanoResize,
     PromptStyle::ui_tars_1_5,
     "Deskpilot nano (Qwen3-VL-MoE, 640x400 pixel cap unless its checkpoint says otherwise): "
     "absolute pixels of the resized screenshot",
     /*sized_by_checkpoint=*/true},
}};

int scaled(int logical, double scale) {
    return static_cast<int>(vision::round_half_even(logical * scale));
}

}  // namespace

std::span<const ModelFamily> all_families() {
    return kFamilies;
}

const ModelFamily* find_family(std::string_view name) {
    for (const ModelFamily& f : kFamilies)
        if (f.name == name) return &f;
    return nullptr;
}

ModelFamily with_pixel_cap(const ModelFamily& family, std::int64_t max_pixels) {
    ModelFamily capped = family;
    if (max_pixels > 0) capped.resize.max_pixels = std::min(capped.resize.max_pixels, max_pixels);
    return capped;
}

std::string family_names() {
    std::string names;
    for (const ModelFamily& f : kFamilies) {
        if (!names.empty()) names += ", ";
        names += f.name;
    }
    return names;
}

CoordinateMapper::CoordinateMapper(const ModelFamily& family, vision::Size screen, double scale)
    : family_(&family) {
    if (screen.width <= 0 || screen.height <= 0)
        throw std::invalid_argument("screen size must be positive, not " +
                                    std::to_string(screen.width) + "x" +
                                    std::to_string(screen.height));
    if (!std::isfinite(scale) || scale <= 0 || scale > 16)
        throw std::invalid_argument("scale must be a positive number up to 16, not " +
                                    std::to_string(scale));
    if (static_cast<double>(screen.width) * scale > 1e6 ||
        static_cast<double>(screen.height) * scale > 1e6)
        throw std::invalid_argument("screen size " + std::to_string(screen.width) + "x" +
                                    std::to_string(screen.height) + " is too large");
    physical_ = {scaled(screen.width, scale), scaled(screen.height, scale)};
    if (physical_.width <= 0 || physical_.height <= 0)
        throw std::invalid_argument("screen size times scale rounds to an empty screen");
    image_ =
        vision::smart_resize(physical_, family.resize);  // throws ResizeError (invalid_argument)
    extent_ = family.space == CoordinateSpace::relative_1000 ? vision::Size{1000, 1000} : image_;
    inverse_extent_x_ = 1.0 / extent_.width;
    inverse_extent_y_ = 1.0 / extent_.height;
}

}  // namespace deskpilot::planner
