// The few CUDA runtime calls the host code of model/engine/cuda/vision_model.cpp and
// text_model.cpp makes, on host memory (vision_tower_check.cpp, text_model_check.cpp). Device
// memory is plain host memory here.
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
inline cudaError_t cudaMemcpy2DAsync(void* d, std::size_t dpitch, const void* s, std::size_t spitch,
                                     std::size_t width, std::size_t height, cudaMemcpyKind,
                                     cudaStream_t) {
    for (std::size_t r = 0; r < height; ++r)
        std::memcpy(static_cast<char*>(d) + r * dpitch, static_cast<const char*>(s) + r * spitch,
                    width);
    return cudaSuccess;
}
