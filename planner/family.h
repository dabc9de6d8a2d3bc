// Model families: how each family's coordinates map to screen pixels, as one table of data.
//
//   family          coordinates                                 image the model sees
//   ui-tars-1.0     relative, 0–1000 on each axis               Qwen2-VL processor (factor 28)
//   ui-tars-1.5     absolute pixels of the smart-resized image  kUiTarsResize (factor 28,
//                                                               100·28²–16384·28²)
//   qwen2.5-vl      absolute pixels of the smart-resized image  kQwen25VlResize (factor 28,
//                                                               3136–12845056)
//   qwen3-vl        relative, 0–1000                            kQwen3VlResize (factor 32)
//   doubao          relative, 0–1000 (<point>x y</point>)       kUiTarsResize
//   deskpilot-nano  absolute pixels of the smart-resized image  factor 32, 65536–640·400 unless
//                                                               the checkpoint says otherwise
//
// Screens: `screen` is the size in logical pixels and `scale` the device pixel ratio (HiDPI);
// the screenshot the model sees and the pixels actions use are physical: round(W·S) × round(H·S).
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "vision/frame.h"
#include "vision/smart_resize.h"

namespace deskpilot::planner {

enum class CoordinateSpace {
    relative_1000,     // x in [0, 1000] spans the image width
    resized_absolute,  // x in [0, W') where W' is smart_resize(screen).width
};

enum class PromptStyle {
    ui_tars_1_0,  // start_box='<|box_start|>(x1,y1)<|box_end|>', Thought/Action, call_user
    ui_tars_1_5,  // start_box='<|box_start|>(x1,y1)<|box_end|>', 1.5 README prompts
    doubao,       // point='<point>x1 y1</point>'
};

struct ModelFamily {
    std::string_view name;
    CoordinateSpace space;
    vision::SmartResizeParams resize;  // the image processor the family was trained with
    PromptStyle prompt_style;
    std::string_view summary;
    // The model's own checkpoint says what image size it was trained at (its
    // preprocessor_config.json), and `resize` is only the default for a backend that cannot
    // tell (model::Vlm::family_as_seen). deskpilot-nano's checkpoints are ours, trained at a
    // size of our choosing; the other families name models whose processor is fixed.
    bool sized_by_checkpoint = false;
    // The first user turn shows its screenshot before the prompt (Conversation::build): how a
    // deskpilot-nano checkpoint trained with train.py --screenshot-first was asked, which its
    // deskpilot.json says ("screenshot_first": true; Vlm::family_as_seen sets it). The grounding
    // examples of one screen then share their start up to the instruction, which training
    // computes once for all of them.
    bool screenshot_first = false;
};

std::span<const ModelFamily> all_families();
// nullptr for an unknown name.
const ModelFamily* find_family(std::string_view name);
// "ui-tars-1.0, ui-tars-1.5, …" for error messages.
std::string family_names();
// `family` as the model sees it when its backend caps screenshots at `max_pixels` (> 0; 0 keeps
// the family as it is): the resize bound shrinks to the cap, so a family whose coordinates are
// pixels of the resized image maps them back from the smaller image the model was shown.
ModelFamily with_pixel_cap(const ModelFamily& family, std::int64_t max_pixels);

struct MappedPoint {
    vision::Point pixel;
    bool out_of_range = false;
};

// Maps a family's model coordinates to physical screen pixels for one screen. Rounds half to
// even, like the Python code the models were trained and evaluated with.
class CoordinateMapper {
  public:
    // Throws std::invalid_argument for an empty screen, a scale that is not positive and finite,
    // or an aspect ratio smart_resize rejects.
    CoordinateMapper(const ModelFamily& family, vision::Size screen, double scale = 1.0);

    // Inline: it runs for every coordinate a model writes (and GCC returns MappedPoint from a
    // call by packing it through the stack).
    MappedPoint map(double model_x, double model_y) const {
        // x·W/M rather than (x/M)·W: exact for integer inputs until the final rounding.
        const double px = model_x * physical_.width, py = model_y * physical_.height;
        const double x = rounded_quotient(px, px * inverse_extent_x_, extent_.width);
        const double y = rounded_quotient(py, py * inverse_extent_y_, extent_.height);
        // Clamp only to what an int holds; the point itself is never moved onto the screen.
        auto to_int = [](double v) {
            return static_cast<int>(v < -1e9 ? -1e9 : v <= 1e9 ? v : 1e9);
        };
        return {{to_int(x), to_int(y)},
                !(x >= 0 && y >= 0 && x < physical_.width && y < physical_.height)};
    }
    vision::Size physical_screen() const { return physical_; }
    // The extent of model coordinates: 1000×1000 or the smart-resized image size.
    vision::Size model_extent() const { return extent_; }
    // The size the screenshot is resized to before it reaches the model.
    vision::Size model_image() const { return image_; }
    const ModelFamily& family() const { return *family_; }

  private:
    // std::floor is a library call without SSE4.1; below 2^52 the integer conversion is exact.
    static double floor_of(double v) {
        if (!(std::fabs(v) < 4503599627370496.0)) return std::floor(v);  // huge, or NaN
        const double t = static_cast<double>(static_cast<std::int64_t>(v));
        return t > v ? t - 1 : t;
    }
    // Python's round() (half to even) without touching the FPU rounding mode
    // (vision::round_half_even's fesetround costs more than a whole parse).
    static double round_even(double v) {
        const double f = floor_of(v);
        const double diff = v - f;
        if (diff < 0.5) return f;
        if (diff > 0.5) return f + 1;
        return f * 0.5 == floor_of(f * 0.5) ? f : f + 1;  // the even neighbour
    }

    // round_even(p / m), where approx = p · (1/m) is within 1e-9 of p / m for |p / m| < 2^20
    // (two roundings of 2^-53 relative each). Away from a tie the two round to the same integer,
    // so the division, the slowest step of a parse's arithmetic, is needed only near x.5 (or for
    // huge, infinite or NaN values): the result is exactly round_even(p / m) in every case.
    static double rounded_quotient(double p, double approx, int m) {
        if (approx > -1048576.0 && approx < 1048576.0) {
            const double f = floor_of(approx);
            const double diff = approx - f;
            if (diff < 0.5 - 1e-9) return f;
            if (diff > 0.5 + 1e-9) return f + 1;
        }
        return round_even(p / m);
    }

    const ModelFamily* family_;
    double inverse_extent_x_ = 0;  // 1 / extent_.width
    double inverse_extent_y_ = 0;
    vision::Size physical_;
    vision::Size extent_;
    vision::Size image_;
};

}  // namespace deskpilot::planner
