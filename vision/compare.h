// Comparing screens: how much changed between two frames (settling after an action), and where
// a recorded patch is on the live screen now (verified replay).
#pragma once

#include <optional>

#include "vision/frame.h"

namespace deskpilot::vision {

struct DiffOptions {
    int sample_step = 2;  // compare every Nth pixel in both directions
    int tolerance = 12;   // a channel must move by more than this to count as changed
};

// Fraction (0..1) of sampled pixels that differ; 1 when the sizes differ.
double changed_fraction(const Frame& a, const Frame& b, const DiffOptions& options = {});

struct PatchMatch {
    Point found;       // where the patch's centre is on the live frame
    double score = 0;  // normalised cross-correlation, 1 = identical
};

// Looks for the square patch of `recorded` centred on `at` (side `patch_size`) inside a window
// of `live` reaching `search_radius` pixels around `at`. Returns nullopt when the patch does not
// fit either frame.
std::optional<PatchMatch> locate_patch(const Frame& recorded, const Frame& live, Point at,
                                       int patch_size = 64, int search_radius = 96);

}  // namespace deskpilot::vision

namespace deskpilot::vision {

// The two frames side by side (scaled to the same height) with a red box around `a_box` on the
// left and `b_box` on the right: the picture a failed replay check leaves behind.
Frame side_by_side(const Frame& a, const Frame& b, const Rect& a_box, const Rect& b_box);

}  // namespace deskpilot::vision
