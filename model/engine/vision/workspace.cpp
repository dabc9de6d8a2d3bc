#include "model/engine/vision/workspace.h"

namespace deskpilot::model::engine::vblocks {

float* Workspace::floats(std::size_t slot, std::size_t n) {
    if (slot >= slots_.size()) slots_.resize(slot + 1);
    Buffer& b = slots_[slot];
    if (b.size < n) {
        // The old buffer goes first, so growing never holds both. Not zeroed: zeroing hundreds
        // of MB here would be tens of ms on one thread that no cancel could stop, and every
        // caller writes what it reads.
        b.data.reset();
        b.size = 0;
        b.data = std::make_unique_for_overwrite<float[]>(n);
        b.size = n;
    }
    return b.data.get();
}

std::size_t Workspace::bytes() const {
    std::size_t total = 0;
    for (const Buffer& b : slots_) total += b.size * sizeof(float);
    return total;
}

}  // namespace deskpilot::model::engine::vblocks
