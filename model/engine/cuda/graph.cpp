#include "model/engine/cuda/graph.h"

#include <cuda_runtime.h>

#include <string>

#include "model/engine/cuda/buffer.h"

namespace deskpilot::model::cuda {

namespace {

cudaStream_t as_stream(void* s) {
    return static_cast<cudaStream_t>(s);
}

// "<step> graph: <call>" for check(), with the way around a graph that does not work.
void check_graph(cudaError_t status, const char* step, const char* call) {
    if (status == cudaSuccess) return;
    check(status, (std::string(step) + " graph: " + call +
                   " (DESKPILOT_CUDA_GRAPHS=0 runs the step without a graph)")
                      .c_str());
}

}  // namespace

StepGraph::~StepGraph() {
    if (exec_) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
}

void StepGraph::begin(void* stream, const char* step) {
    ready_ = false;  // from here exec_ may be updated with a step that never launches
    check_graph(cudaStreamBeginCapture(as_stream(stream), cudaStreamCaptureModeRelaxed), step,
                "cudaStreamBeginCapture");
    capturing_ = true;
}

void StepGraph::abandon(void* stream) noexcept {
    if (!capturing_) return;
    capturing_ = false;
    cudaGraph_t g = nullptr;
    cudaStreamEndCapture(as_stream(stream), &g);
    if (g) cudaGraphDestroy(g);
    cudaGetLastError();  // an invalidated capture's error is the one already being reported
    ++counts_.abandoned;
}

void StepGraph::end_and_launch(void* stream, const char* step) {
    cudaGraph_t g = nullptr;
    capturing_ = false;
    check_graph(cudaStreamEndCapture(as_stream(stream), &g), step, "cudaStreamEndCapture");
    ++counts_.captures;
    // The captured graph is only the template of the executable one: free it on every path.
    struct Owned {
        cudaGraph_t g;
        ~Owned() {
            if (g) cudaGraphDestroy(g);
        }
    } owned{g};
    bool updated = false;
    if (exec_) {
        cudaGraphExecUpdateResultInfo info{};
        const cudaError_t e = cudaGraphExecUpdate(static_cast<cudaGraphExec_t>(exec_), g, &info);
        if (e == cudaSuccess) {
            updated = true;
            ++counts_.updates;
        } else if (e == cudaErrorGraphExecUpdateFailure) {
            // Another topology (or a change an update cannot make): instantiate this one.
            cudaGetLastError();
            cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
            exec_ = nullptr;
        } else {
            check_graph(e, step, "cudaGraphExecUpdate");
        }
    }
    if (!updated) {
        cudaGraphExec_t ex = nullptr;
        check_graph(cudaGraphInstantiate(&ex, g, 0), step, "cudaGraphInstantiate");
        exec_ = ex;
        ++counts_.instantiations;
    }
    check_graph(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), as_stream(stream)), step,
                "cudaGraphLaunch");
    ++counts_.launches;
    ready_ = true;
}

void StepGraph::replay(void* stream, const char* step) {
    if (!ready_) check_graph(cudaErrorInvalidValue, step, "replay with no step captured");
    check_graph(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), as_stream(stream)), step,
                "cudaGraphLaunch");
    ++counts_.launches;
    ++counts_.replays;
}

PinnedHost::PinnedHost(std::size_t bytes) : bytes_(bytes) {
    check(cudaHostAlloc(&ptr_, bytes ? bytes : 1, cudaHostAllocDefault),
          "cudaHostAlloc (the decode step's staging buffer)");
}

PinnedHost::~PinnedHost() {
    if (ptr_) cudaFreeHost(ptr_);
}

}  // namespace deskpilot::model::cuda
