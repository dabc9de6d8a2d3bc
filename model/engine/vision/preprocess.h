// Image preprocessing for the Qwen-VL vision towers, equal to transformers' Qwen2-VL image
// processor (which Qwen2.5-VL and Qwen3-VL share, with different settings):
//   smart_resize → bicubic resample of the 8-bit image (Pillow's filter and fixed-point
//   arithmetic, which torchvision's uint8 path also reproduces) → x/255 → (x − mean)/std →
//   patches.
// pixel_values rows are patches in (t, block row, block col, row in block, col in block) order
// — blocks are the merge×merge squares the merger fuses — and columns are
// (channel, t, y, x), a still image repeated to temporal_patch_size frames.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "model/engine/cpu/thread_pool.h"
#include "vision/frame.h"
#include "vision/smart_resize.h"

namespace deskpilot::model::engine {

struct PreprocessParams {
    vision::SmartResizeParams resize;
    int patch_size = 16;
    int temporal_patch_size = 2;
    int merge_size = 2;
    std::array<float, 3> mean{};  // RGB
    std::array<float, 3> std{};
};

// Qwen3-VL preprocessor_config.json: patch 16, mean/std 0.5.
inline constexpr PreprocessParams kQwen3VlPreprocess{
    vision::kQwen3VlResize, 16, 2, 2, {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}};
// Qwen2.5-VL / UI-TARS-1.5: patch 14, CLIP mean/std.
inline constexpr PreprocessParams kQwen25VlPreprocess{vision::kQwen25VlResize,
                                                      14,
                                                      2,
                                                      2,
                                                      {0.48145466f, 0.4578275f, 0.40821073f},
                                                      {0.26862954f, 0.26130258f, 0.27577711f}};

struct PixelValues {
    std::vector<float> data;  // [rows, cols] row-major
    std::int64_t rows = 0, cols = 0;
    std::array<int, 3> grid_thw{};  // image_grid_thw: frames/temporal_patch, patch rows, cols
    vision::Size resized;           // the smart_resize'd image size
    // Placeholder tokens the image takes in the prompt: t·h·w / merge².
    std::int64_t merged_tokens() const;
};

// `max_pixels_cap` > 0 lowers params.resize.max_pixels (a CPU run's pixel budget); it never
// raises it. Throws vision::ResizeError for an empty image or an extreme aspect ratio, and
// std::invalid_argument for a cap below the minimum pixel count. Runs as jobs on `pool`, so a
// cpu::StopScope on the calling thread stops it between rows (cpu::Stopped).
PixelValues preprocess_image(const vision::Frame& frame, const PreprocessParams& params,
                             std::int64_t max_pixels_cap = 0,
                             cpu::ThreadPool& pool = cpu::ThreadPool::global());

// The bicubic resample alone (8-bit RGB in, RGB out, interleaved), exposed for tests.
std::vector<std::uint8_t> resize_bicubic_rgb8(const std::uint8_t* rgb, int width, int height,
                                              int out_width, int out_height,
                                              cpu::ThreadPool& pool = cpu::ThreadPool::global());

}  // namespace deskpilot::model::engine
