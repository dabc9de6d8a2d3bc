// Host emulation of the CUDA primitives the .cu files use: one block at a time, one
// std::thread per CUDA thread, barriers for __syncthreads and the warp shuffles.
#pragma once
#include <algorithm>
#include <atomic>
#include <barrier>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
enum cudaError_t {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorStreamCaptureUnsupported = 900,
    cudaErrorStreamCaptureInvalidated = 901,
    cudaErrorIllegalState = 401,
    cudaErrorGraphExecUpdateFailure = 910,
};
// inline: one definition however many emulated translation units (text_model_check links
// kernels.cu, flash_attention.cu and vision_kernels.cu as separate objects).
inline thread_local dim3 threadIdx{0, 0, 0};
inline dim3 blockIdx{0, 0, 0}, blockDim{128, 1, 1}, gridDim{1, 1, 1};
inline std::barrier<>* g_block;
inline std::vector<std::barrier<>*> g_warp;
inline float g_x[64][32];
using cudaStream_t = void*;
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(x)
using std::max;
using std::min;
inline void __syncthreads() {
    g_block->arrive_and_wait();
}
inline float xchg(float v, int src) {
    const int w = threadIdx.x / 32, l = threadIdx.x % 32;
    g_warp[w]->arrive_and_wait();
    g_x[w][l] = v;
    g_warp[w]->arrive_and_wait();
    return g_x[w][src];
}
inline float __shfl_xor_sync(unsigned, float v, int o) {
    return xchg(v, (threadIdx.x % 32) ^ o);
}
inline float __shfl_sync(unsigned, float v, int j) {
    return xchg(v, j);
}
// The warp's predicates as a mask (moe_grouped.cu's stable scatter), and a bit count.
inline unsigned g_ballot[64][32];
inline unsigned __ballot_sync(unsigned, int pred) {
    const int w = threadIdx.x / 32, l = threadIdx.x % 32;
    g_warp[w]->arrive_and_wait();
    g_ballot[w][l] = pred ? 1u : 0u;
    g_warp[w]->arrive_and_wait();
    unsigned m = 0;
    for (int i = 0; i < 32; ++i) m |= g_ballot[w][i] << i;
    return m;
}
inline int __popc(unsigned v) {
    return std::popcount(v);
}
// mma.cuh's tensor-core multiply-add (PTX mma.m16n8k16, bf16 in, f32 accumulate): the warp's
// lanes post their fragments, then each lane computes its four outputs from the matrices they
// make, in the fragment layout mma.cuh documents. Products of bf16 values are exact in f32; the
// sum runs in k order (the hardware's order differs: parity tests allow for it).
inline unsigned g_frag[64][32][6];
inline void emu_mma_bf16(float c[4], const unsigned a[4], unsigned b0, unsigned b1) {
    const int w = threadIdx.x / 32, l = threadIdx.x % 32, g = l / 4, t = l % 4;
    for (int i = 0; i < 4; ++i) g_frag[w][l][i] = a[i];
    g_frag[w][l][4] = b0;
    g_frag[w][l][5] = b1;
    g_warp[w]->arrive_and_wait();
    auto half = [](unsigned reg, int k) {  // element k & 1 of a register, as f32
        const unsigned bits = (k & 1) ? reg >> 16 : reg & 0xffffu;
        float f;
        const unsigned u = bits << 16;
        std::memcpy(&f, &u, 4);
        return f;
    };
    auto A = [&](int r, int k) {
        return half(g_frag[w][(r % 8) * 4 + (k % 8) / 2][(r >= 8 ? 1 : 0) + (k >= 8 ? 2 : 0)], k);
    };
    auto B = [&](int k, int n) { return half(g_frag[w][n * 4 + (k % 8) / 2][4 + (k >= 8)], k); };
    float d[4];
    for (int i = 0; i < 4; ++i) {
        const int r = g + (i >= 2 ? 8 : 0), n = 2 * t + (i & 1);
        float sum = 0.0f;
        for (int k = 0; k < 16; ++k) sum += A(r, k) * B(k, n);
        d[i] = c[i] + sum;
    }
    g_warp[w]->arrive_and_wait();  // every lane has read the fragments before any posts again
    for (int i = 0; i < 4; ++i) c[i] = d[i];
}
// mma.cuh's ldmatrix (x4): the lanes post their row addresses, then each reads its four
// registers from the rows of the matrices they make (mma.cuh documents the layout).
inline const void* g_ldm_row[64][32];
inline void emu_ldmatrix_x4(unsigned r[4], const void* row, bool trans) {
    const int w = threadIdx.x / 32, l = threadIdx.x % 32;
    g_warp[w]->arrive_and_wait();
    g_ldm_row[w][l] = row;
    g_warp[w]->arrive_and_wait();
    for (int i = 0; i < 4; ++i) {
        auto at = [&](int rr, int c) {
            return unsigned(static_cast<const std::uint16_t*>(g_ldm_row[w][8 * i + rr])[c]);
        };
        const int g = l / 4, t = l % 4;
        r[i] =
            trans ? at(2 * t, g) | at(2 * t + 1, g) << 16 : at(g, 2 * t) | at(g, 2 * t + 1) << 16;
    }
    g_warp[w]->arrive_and_wait();  // every lane has read the rows before any posts again
}
// gemv.cu's last-block combine: blocks run one at a time here, so the fence has nothing to order
// and the counter needs atomicity only against the block's own threads.
inline unsigned atomicAdd(unsigned* p, unsigned v) {
    return std::atomic_ref<unsigned>(*p).fetch_add(v);
}
inline void __threadfence() {}
inline float __ldcg(const float* p) {
    return *p;
}
// kernels.cu's intrinsics.
inline float __expf(float x) {
    return std::exp(x);
}
inline float __uint_as_float(unsigned u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
inline unsigned __float_as_uint(float f) {
    unsigned u;
    std::memcpy(&u, &f, 4);
    return u;
}
// The engine's CudaError (device.h is plain C++); the tower check (vision_tower_check.cpp) brings
// the engine's own buffer.h, and with it check_launch, instead.
#include "model/engine/cuda/device.h"
#ifndef EMU_WITH_ENGINE
namespace deskpilot::model::cuda {
inline void check_launch(const char*) {}
}  // namespace deskpilot::model::cuda
#endif
// Stream capture (cuda_runtime.h's cudaStreamBeginCapture/EndCapture): while g_capture is set,
// kernel launches, async copies and cuBLAS calls are recorded as nodes instead of run, and a
// graph launch runs the nodes in order. `kind` is what cudaGraphExecUpdate compares (a node of
// another kind is another topology): 'k' kernel, 'c' copy, 'b' cuBLAS call.
struct EmuNode {
    char kind;
    std::function<void()> run;
};
inline std::vector<EmuNode>* g_capture = nullptr;
// Calls recorded into a capture (kernels, copies, cuBLAS) rather than made.
inline long g_captured = 0;
inline bool emu_record(char kind, std::function<void()> run) {
    if (!g_capture) return false;
    g_capture->push_back({kind, std::move(run)});
    ++g_captured;
    return true;
}
inline void emu_run(dim3 grid, unsigned threads, const std::function<void()>& body);
// Kernel launches made on a stream so far (each rewritten <<<...>>> of the .cu files), not
// counting those recorded into a capture; a graph launch replays its kernels without counting.
inline long g_launches = 0;
// The launch rewrite passes the body by value ([=]): a recorded launch keeps its arguments.
inline void emu_launch(dim3 grid, unsigned threads, const std::function<void()>& body) {
    if (emu_record('k', [grid, threads, body] { emu_run(grid, threads, body); })) return;
    ++g_launches;
    emu_run(grid, threads, body);
}
// Programmatic dependent launch (launch_util.cuh's launch_pdl): a launch like any other here (the
// blocks of one kernel run before the next kernel's, so there is nothing to overlap), counted in
// g_pdl_launches when it asks for it. The emulated device reports compute capability 9.0, so the
// engine asks for it whenever pdl() is on.
enum cudaLaunchAttributeID { cudaLaunchAttributeProgrammaticStreamSerialization = 3 };
struct cudaLaunchAttribute {
    cudaLaunchAttributeID id;
    struct {
        int programmaticStreamSerializationAllowed;
    } val;
};
struct cudaLaunchConfig_t {
    dim3 gridDim, blockDim;
    std::size_t dynamicSmemBytes;
    cudaStream_t stream;
    cudaLaunchAttribute* attrs;
    unsigned numAttrs;
};
inline long g_pdl_launches = 0;
template <typename... P, typename... A>
cudaError_t cudaLaunchKernelEx(const cudaLaunchConfig_t* c, void (*kernel)(P...), A&&... args) {
    for (unsigned i = 0; i < c->numAttrs; ++i)
        g_pdl_launches += c->attrs[i].id == cudaLaunchAttributeProgrammaticStreamSerialization &&
                          c->attrs[i].val.programmaticStreamSerializationAllowed;
    // By value: a launch recorded into a capture keeps its arguments.
    emu_launch(c->gridDim, c->blockDim.x, [=] { kernel(args...); });
    return cudaSuccess;
}
enum cudaDeviceAttr { cudaDevAttrComputeCapabilityMajor = 75 };
inline cudaError_t cudaGetDevice(int* d) {
    *d = 0;
    return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int) {
    *v = a == cudaDevAttrComputeCapabilityMajor ? 9 : 0;
    return cudaSuccess;
}
inline void emu_run(dim3 grid, unsigned threads, const std::function<void()>& body) {
    blockDim = dim3(threads);
    gridDim = grid;
    // All three grid axes (the split-K attention runs over z), one block at a time.
    for (unsigned blk = 0; blk < grid.x * grid.y * grid.z; ++blk) {
        blockIdx = dim3(blk % grid.x, blk / grid.x % grid.y, blk / (grid.x * grid.y));
        std::barrier<> b(threads);
        g_block = &b;
        std::vector<std::barrier<>*> ws;
        for (unsigned w = 0; w < threads / 32; ++w) ws.push_back(new std::barrier<>(32));
        g_warp = ws;
        std::vector<std::thread> ts;
        for (unsigned t = 0; t < threads; ++t)
            ts.emplace_back([t, &body] {
                threadIdx = dim3(t, 0, 0);
                body();
            });
        for (auto& t : ts) t.join();
        for (auto* w : ws) delete w;
    }
}
