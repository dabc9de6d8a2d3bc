// The few CUDA runtime calls the host code of model/engine/cuda/vision_model.cpp makes, on host
// memory (the tower check: vision_tower_check.cpp). Device memory is plain host memory here.
#pragma once
#include <cstring>

#include "prelude.h"
enum cudaError_t { cudaSuccess = 0 };
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
inline cudaError_t cudaSetDevice(int) {
    return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, std::size_t n, cudaMemcpyKind,
                                   cudaStream_t) {
    std::memcpy(d, s, n);
    return cudaSuccess;
}
