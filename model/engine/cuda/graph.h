// CUDA graphs for the decoder's batch-1 decode step. A step is a few hundred small launches
// (kernels and cuBLAS GEMMs) whose GPU time per launch is microseconds at batch 1, so the gaps
// between launches cost a visible share of a token; a graph replays them with the driver's
// own scheduling instead. The step is captured anew every token (host work about that of
// launching it) and the executable graph updated in place (cudaGraphExecUpdate) rather than
// instantiated again: the KV length and the split-K grid change per token, the topology does
// not. Where an update is refused (another kernel sequence: fused or KV type toggled), the graph
// is instantiated again. A plain C++ header (streams as void*), so text_model.h can name the
// counts in every build.
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
    std::int64_t launches = 0;        // cudaGraphLaunch
    std::int64_t abandoned = 0;       // captures given up (a scratch buffer had to grow)
};

// One executable graph that each captured step replaces. Errors are CudaError naming `step`.
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
    // when the update is refused) and launches it on `stream`.
    void end_and_launch(void* stream, const char* step);
    bool capturing() const { return capturing_; }
    const GraphCounts& counts() const { return counts_; }

  private:
    void* exec_ = nullptr;  // cudaGraphExec_t
    bool capturing_ = false;
    GraphCounts counts_;
};

// Page-locked host memory (cudaHostAlloc): what a captured step copies its token id and positions
// from. A graph's memcpy node reads the host buffer when the graph runs, and a capture refuses
// pageable memory, so the host writes here before the launch and waits for the step before
// writing again.
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
