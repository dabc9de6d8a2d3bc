// Pixel values for the vision tower suites: a golden file's (its stored values and patch grid),
// or random ones for any grid.
#pragma once

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "model/engine/vision/preprocess.h"

namespace deskpilot::test {

// `data` as pixel values of the grid a golden file stores as floats (t, h, w).
inline model::engine::PixelValues pixels_of(std::vector<float> data,
                                            const std::vector<float>& grid) {
    model::engine::PixelValues px;
    px.data = std::move(data);
    px.grid_thw = {int(grid[0]), int(grid[1]), int(grid[2])};
    px.rows = std::int64_t(grid[1] * grid[2]);
    px.cols = std::int64_t(px.data.size()) / px.rows;
    return px;
}

// Pixel values of one frame of gh x gw patches of `cols` values each, uniform in [-2, 2].
inline model::engine::PixelValues random_pixels(int gh, int gw, std::int64_t cols, unsigned seed) {
    model::engine::PixelValues px;
    px.grid_thw = {1, gh, gw};
    px.rows = std::int64_t(gh) * gw;
    px.cols = cols;
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-2.0f, 2.0f);
    px.data.resize(std::size_t(px.rows * cols));
    for (float& x : px.data) x = u(rng);
    return px;
}

}  // namespace deskpilot::test
