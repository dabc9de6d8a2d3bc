// The (token, choice) pairs of an MoE layer grouped by expert, on the host: the decoder's host
// grouping (DESKPILOT_CUDA_MOE_GROUPING=host) and the CPU twin of k::moe_group (moe_grouped.h),
// whose arrays it gives. Plain C++.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace deskpilot::model::cuda {

struct ExpertGrouping {
    std::vector<std::int32_t> offsets;  // [E + 1]: expert e's rows are [offsets[e], offsets[e + 1])
    std::vector<std::int32_t> tiles;    // [E + 1]: its tile_rows-row tiles, as prefix sums
    std::vector<std::int32_t> src;      // [pairs]: the token of grouped row r
    std::vector<std::int32_t> row_of;   // [pairs]: the grouped row of pair p
};

// Pair p is token p / k's choice p % k, of expert index[p]; within an expert the rows keep the
// pairs' order. std::invalid_argument for an expert outside 0..E-1.
inline ExpertGrouping group_by_expert(std::span<const std::int32_t> index, int k, int E,
                                      int tile_rows) {
    ExpertGrouping g;
    g.offsets.assign(std::size_t(E) + 1, 0);
    g.tiles.assign(std::size_t(E) + 1, 0);
    for (const auto e : index) {
        if (e < 0 || e >= E)
            throw std::invalid_argument("MoE grouping: expert " + std::to_string(e) +
                                        " outside 0.." + std::to_string(E - 1));
        ++g.offsets[std::size_t(e) + 1];
    }
    for (std::size_t e = 1; e < g.offsets.size(); ++e) {
        g.tiles[e] = g.tiles[e - 1] + (g.offsets[e] + tile_rows - 1) / tile_rows;
        g.offsets[e] += g.offsets[e - 1];
    }
    g.src.resize(index.size());
    g.row_of.resize(index.size());
    std::vector<std::int32_t> fill(g.offsets.begin(), g.offsets.end() - 1);
    for (std::size_t p = 0; p < index.size(); ++p) {
        const std::int32_t r = fill[std::size_t(index[p])]++;
        g.src[std::size_t(r)] = std::int32_t(p / std::size_t(k));
        g.row_of[p] = r;
    }
    return g;
}

}  // namespace deskpilot::model::cuda
