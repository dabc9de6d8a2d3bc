// The few CUDA runtime calls the host code of model/engine/cuda/vision_model.cpp, text_model.cpp
// and graph.cpp makes, on host memory (vision_tower_check.cpp, text_model_check.cpp,
// graph_check.cpp). Device memory is plain host memory here. Stream capture and graphs follow
// the runtime's rules where the decoder could break them: inside a capture, async copies are
// recorded (a host side that is not pinned memory from cudaHostAlloc is refused, as a pageable
// copy is), and engine_standins.h refuses a stream synchronisation, an allocation or a
// synchronous copy; cudaGraphExecUpdate refuses another sequence of node kinds.
#pragma once
#include <cstdlib>
#include <cstring>
#include <map>
#include <utility>

#include "prelude.h"  // also cudaError_t, which the .cu files' launches use
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
enum cudaStreamCaptureMode {
    cudaStreamCaptureModeGlobal,
    cudaStreamCaptureModeThreadLocal,
    cudaStreamCaptureModeRelaxed
};
enum cudaGraphExecUpdateResult {
    cudaGraphExecUpdateSuccess = 0,
    cudaGraphExecUpdateError = 1,
    cudaGraphExecUpdateErrorTopologyChanged = 2,
};
struct EmuGraph {
    std::vector<EmuNode> nodes;
};
using cudaGraph_t = EmuGraph*;
using cudaGraphExec_t = EmuGraph*;
struct cudaGraphExecUpdateResultInfo {
    cudaGraphExecUpdateResult result;
    void* errorNode;
    void* errorFromNode;
};
constexpr unsigned cudaHostAllocDefault = 0;

// The last error a call returned (cudaGetLastError reads and clears it).
inline cudaError_t g_last_error = cudaSuccess;
inline cudaError_t emu_fail(cudaError_t e) {
    g_last_error = e;
    return e;
}
inline cudaError_t cudaGetLastError() {
    return std::exchange(g_last_error, cudaSuccess);
}
inline cudaError_t cudaSetDevice(int) {
    return cudaSuccess;
}

// Pinned host allocations (start → bytes): what a captured copy may read or write on the host.
inline std::map<const char*, std::size_t> g_pinned;
inline bool emu_pinned(const void* p, std::size_t n) {
    const char* c = static_cast<const char*>(p);
    auto it = g_pinned.upper_bound(c);
    if (it == g_pinned.begin()) return false;
    --it;
    return c >= it->first && c + n <= it->first + it->second;
}
inline cudaError_t cudaHostAlloc(void** p, std::size_t n, unsigned) {
    *p = std::calloc(n ? n : 1, 1);
    g_pinned[static_cast<const char*>(*p)] = n;
    return cudaSuccess;
}
inline cudaError_t cudaFreeHost(void* p) {
    g_pinned.erase(static_cast<const char*>(p));
    std::free(p);
    return cudaSuccess;
}

// The capture in progress: it is invalidated by an operation a capture cannot hold (reported by
// cudaStreamEndCapture, as the runtime does).
inline EmuGraph* g_capturing = nullptr;
inline bool g_capture_invalid = false;
// A call a capture cannot hold: the capture is invalidated and the call fails.
inline cudaError_t emu_refuse_in_capture() {
    if (!g_capturing) return cudaSuccess;
    g_capture_invalid = true;
    return emu_fail(cudaErrorStreamCaptureUnsupported);
}

// Calls made from the host on a stream (not recorded into a capture).
inline long g_memcpys = 0;
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, std::size_t n, cudaMemcpyKind kind,
                                   cudaStream_t) {
    if (g_capturing) {
        const bool pageable = (kind == cudaMemcpyHostToDevice && !emu_pinned(s, n)) ||
                              (kind == cudaMemcpyDeviceToHost && !emu_pinned(d, n));
        if (pageable) return emu_refuse_in_capture();
        // The source is read when the graph runs, as a real memcpy node's: each replay copies
        // what the host last wrote into the pinned buffer (the decode step's staging).
        emu_record('c', [d, s, n] { std::memcpy(d, s, n); });
        return cudaSuccess;
    }
    ++g_memcpys;
    std::memcpy(d, s, n);
    return cudaSuccess;
}
inline cudaError_t cudaMemcpy2DAsync(void* d, std::size_t dpitch, const void* s, std::size_t spitch,
                                     std::size_t width, std::size_t height, cudaMemcpyKind,
                                     cudaStream_t) {
    auto copy = [=] {
        for (std::size_t r = 0; r < height; ++r)
            std::memcpy(static_cast<char*>(d) + r * dpitch,
                        static_cast<const char*>(s) + r * spitch, width);
    };
    if (emu_record('c', copy)) return cudaSuccess;
    ++g_memcpys;
    copy();
    return cudaSuccess;
}

// Graph calls so far (cross-checks of the decoder's own GraphCounts).
inline long g_graph_instantiations = 0, g_graph_updates = 0, g_graph_launches = 0;
inline cudaError_t cudaStreamBeginCapture(cudaStream_t, cudaStreamCaptureMode) {
    if (g_capturing) return emu_fail(cudaErrorIllegalState);
    g_capturing = new EmuGraph;
    g_capture_invalid = false;
    g_capture = &g_capturing->nodes;
    return cudaSuccess;
}
inline cudaError_t cudaStreamEndCapture(cudaStream_t, cudaGraph_t* graph) {
    *graph = nullptr;
    if (!g_capturing) return emu_fail(cudaErrorIllegalState);
    EmuGraph* g = std::exchange(g_capturing, nullptr);
    g_capture = nullptr;
    if (g_capture_invalid) {
        delete g;
        return emu_fail(cudaErrorStreamCaptureInvalidated);
    }
    *graph = g;
    return cudaSuccess;
}
inline cudaError_t cudaGraphDestroy(cudaGraph_t g) {
    delete g;
    return cudaSuccess;
}
inline cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t g, unsigned long long) {
    if (g_capturing) return emu_refuse_in_capture();
    *exec = new EmuGraph(*g);
    ++g_graph_instantiations;
    return cudaSuccess;
}
inline cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) {
    delete e;
    return cudaSuccess;
}
// The same node kinds in the same order: the new nodes' parameters (here, their closures) replace
// the old ones; otherwise the update fails as the runtime's does for another topology.
inline cudaError_t cudaGraphExecUpdate(cudaGraphExec_t e, cudaGraph_t g,
                                       cudaGraphExecUpdateResultInfo* info) {
    bool same = e->nodes.size() == g->nodes.size();
    for (std::size_t i = 0; same && i < g->nodes.size(); ++i)
        same = e->nodes[i].kind == g->nodes[i].kind;
    if (!same) {
        if (info) *info = {cudaGraphExecUpdateErrorTopologyChanged, nullptr, nullptr};
        return emu_fail(cudaErrorGraphExecUpdateFailure);
    }
    e->nodes = g->nodes;
    if (info) *info = {cudaGraphExecUpdateSuccess, nullptr, nullptr};
    ++g_graph_updates;
    return cudaSuccess;
}
inline cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t) {
    if (g_capturing) return emu_refuse_in_capture();
    ++g_graph_launches;
    for (const EmuNode& n : e->nodes) n.run();
    return cudaSuccess;
}
