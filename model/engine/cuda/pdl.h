// Programmatic dependent launch (PDL) for the decode step's kernels: DESKPILOT_CUDA_PDL.
// Plain C++ (defined in kernels.cu); the device side is launch_util.cuh's pdl_wait / launch_pdl.
#pragma once

namespace deskpilot::model::cuda::k {

// Why: at batch 1 a decode step is a chain of short kernels, and each one's launch, block
// scheduling and first loads come after the previous one has ended (bench/RESULTS.md: the layer's
// kernels took about 100 us on the H200 where its weights need 25). With PDL (Hopper and later) a
// kernel may start while the one before it still runs: its blocks are resident, have asked L2 for
// the first lines of their weights and wait (griddepcontrol.wait) for the previous kernel's results
// when it ends. The kernels launched this way are the matrix-vector kernels (gemv.h), the decode
// step's rotary + KV append and the split-K attention (kernels.h); each waits before it touches
// anything another kernel writes, so results are the same bits either way.
//
// DESKPILOT_CUDA_PDL=1 turns it on; 0 or unset leaves it off (the default until a GPU has timed
// it: bench_cuda_decode --pdl both); another value is a CudaError naming it.
bool pdl_from_env();
// The process's choice: pdl_from_env() at the first call, or the last set_pdl.
bool pdl();
void set_pdl(bool on);
// Whether a launch uses it now: pdl() and the current device has compute capability 9.0 or later
// (on an older GPU the launches are plain ones and the kernels' waits return at once).
bool pdl_launches();

}  // namespace deskpilot::model::cuda::k
