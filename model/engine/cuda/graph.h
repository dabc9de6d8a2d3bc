// CUDA graphs for the decoder's batch-1 decode step. A step is a few hundred small launches
// (kernels and cuBLAS GEMMs) whose GPU time per launch is microseconds at batch 1, so the gaps
// between launches cost a visible share of a token; a graph replays them with the driver's own
// scheduling instead.
//
// The step is captured once and then replayed unchanged: each token costs a 24-byte host write
// into PinnedHost staging and one cudaGraphLaunch (capturing costs about what launching the step
// eagerly does, so a graph captured per token barely paid). Nothing in the captured step may
// depend on a host value that changes per token; CudaTextModel (text_model.cpp) keeps it so:
//   - token id and t/h/w positions: read from the staging by the graph's copy node at launch
//     (embedding gather and rotary read the device copy);
//   - KV length `past`: in the same staging and copy (int64); the captured step runs the
//     k::*_decode kernels, which read it on the device (kv_append's write row, attention's keys
//     0..past);
//   - split-K split count: a fixed grid of k::kMaxSplits; each block computes
//     k::decode_splits(past) on the device, so the keys fall in the chunks an eager step's grid
//     makes (the same bits) and the surplus splits write empty partials the merge skips; the
//     attention scratch is sized for kMaxSplits at every decode step;
//   - MoE: only the batched decode path is captured (routing, expert pointers and the batched
//     GEMMs all on the device; DESKPILOT_CUDA_MOE=grouped downloads the routing: never captured);
//   - GEMM shapes (M = 1), the cuBLAS workspace (set once at upload) and the lm head: fixed.
// What the graph holds that can still change is its key (text_model.cpp GraphKey): the kernel
// sequence (set_fused, set_kv_dtype) and every device pointer it captured (a scratch buffer
// that grew, a KV cache reallocated by reserve/reset/set_kv_dtype). When the key changes the
// next step is captured again and the executable graph updated in place (cudaGraphExecUpdate),
// or instantiated again where the update is refused (another topology). Rewinding or resetting
// without reallocation changes only `past`: the graph replays. A plain C++ header (streams as
// void*), so text_model.h can name the counts in every build.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

namespace deskpilot::model::cuda {

// What a model's step graph did so far (tests and benchmarks read them).
struct GraphCounts {
    std::int64_t captures = 0;        // steps captured (cudaStreamEndCapture succeeded)
    std::int64_t instantiations = 0;  // cudaGraphInstantiate: the first, or after a refused update
    std::int64_t updates = 0;         // cudaGraphExecUpdate that succeeded
    std::int64_t launches = 0;        // cudaGraphLaunch: after each capture, and each replay
    std::int64_t replays = 0;         // launches of the executable graph with no capture before
    std::int64_t abandoned = 0;       // captures given up (a scratch buffer had to grow)
};

// One executable graph, replayed until a new capture replaces it. Errors are CudaError naming
// `step`.
class StepGraph {
  public:
    StepGraph() = default;
    ~StepGraph();
    StepGraph(const StepGraph&) = delete;
    StepGraph& operator=(const StepGraph&) = delete;

    // Starts capturing the work enqueued on `stream` (relaxed mode: as llama.cpp, so cuBLAS's own
    // calls in this thread are not refused; the step itself allocates and synchronises nothing).
    void begin(void* stream, const char* step);
    // Ends the capture and throws it away (an exception inside the captured region, or a scratch
    // buffer that must grow first); nothing captured runs. Safe when no capture is open.
    void abandon(void* stream) noexcept;
    // Ends the capture, updates the executable graph with it (instantiates one the first time or
    // when the update is refused) and launches it on `stream`; then ready().
    void end_and_launch(void* stream, const char* step);
    // Launches the executable graph as it is (ready() only: a step captured and launched, and no
    // capture begun since).
    void replay(void* stream, const char* step);
    bool ready() const { return ready_; }
    bool capturing() const { return capturing_; }
    const GraphCounts& counts() const { return counts_; }

  private:
    void* exec_ = nullptr;  // cudaGraphExec_t
    bool capturing_ = false;
    bool ready_ = false;  // exec_ holds the last captured step, which launched
    GraphCounts counts_;
};

// Page-locked host memory (cudaHostAlloc): what a captured step copies its token id, positions
// and KV length from. A graph's memcpy node reads the host buffer when the graph runs (each
// replay reads what the host wrote last), and a capture refuses pageable memory, so the host
// writes here before the launch and waits for the step before writing again.
class PinnedHost {
  public:
    PinnedHost() = default;
    explicit PinnedHost(std::size_t bytes);
    ~PinnedHost();
    PinnedHost(PinnedHost&& o) noexcept { *this = std::move(o); }
    PinnedHost& operator=(PinnedHost&& o) noexcept {
        std::swap(ptr_, o.ptr_);
        std::swap(bytes_, o.bytes_);
        return *this;
    }
    PinnedHost(const PinnedHost&) = delete;
    PinnedHost& operator=(const PinnedHost&) = delete;
    template <typename T>
    T* as() const {
        return static_cast<T*>(ptr_);
    }
    std::size_t bytes() const { return bytes_; }

  private:
    void* ptr_ = nullptr;
    std::size_t bytes_ = 0;
};

}  // namespace deskpilot::model::cuda
