// What every .cu file of the engine uses to launch and reduce: the stream cast, the grid size and
// the warp sum. Internal to model/engine/cuda/*.cu; include it after <cuda_runtime.h> (the host
// emulator, tools/cuda_host_emu, puts its own stand-in for that header in its place). Each .cu is
// its own nvcc unit, so the unnamed namespace gives each its private copy, as before (inline: no
// unused-function warning where a file needs only some of them).
#pragma once

#include <cstdint>

namespace deskpilot::model::cuda::k {
namespace {

inline cudaStream_t S(void* s) {
    return static_cast<cudaStream_t>(s);
}

// Blocks of `per` threads covering n elements.
inline unsigned blocks(std::int64_t n, int per) {
    return unsigned((n + per - 1) / per);
}

// Sum over the 32 lanes of a warp; every lane gets it.
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

}  // namespace
}  // namespace deskpilot::model::cuda::k
