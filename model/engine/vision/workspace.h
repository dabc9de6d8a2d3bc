// Activation buffers a vision tower keeps from one encode to the next.
//
// A full screenshot's activations are hundreds of MB (Qwen2.5-VL's widths at 1932x1092: ~460
// MB). Allocated per call — per block, even — each buffer is a fresh mapping: every page is
// faulted in and zeroed by the kernel on first touch, and the whole is unmapped again when it
// goes out of scope. That unmapping is also what a cancel waited for: the stack unwinds and
// frees them, up to 45 ms on the 2-core machine and 127 ms once under ctest -j2, against the
// engine's 100 ms promise. A Workspace keeps them instead: the agent's next screenshot (the same
// size) touches no new page, and a cancel frees nothing.
//
// The price is that memory: a tower holds its largest screenshot's buffers until it is
// destroyed. Not thread-safe: a tower locks around the encode that uses it.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace deskpilot::model::engine::vblocks {

class Workspace {
  public:
    // Buffer `slot` with room for at least n floats. Its contents are whatever the last user left
    // (callers write every element before they read it); growing a slot drops them.
    float* floats(std::size_t slot, std::size_t n);
    // What the slots hold, in bytes.
    std::size_t bytes() const;

  private:
    struct Buffer {
        std::unique_ptr<float[]> data;
        std::size_t size = 0;
    };
    std::vector<Buffer> slots_;
};

}  // namespace deskpilot::model::engine::vblocks
