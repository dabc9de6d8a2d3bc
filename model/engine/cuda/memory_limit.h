// A cap on the device memory the engine's buffers may hold, so several models (or a model and
// other work) can share one GPU: DESKPILOT_CUDA_MEM_LIMIT=N bytes, with an optional K, M, G or T
// suffix (powers of 1024; "24G", "512M", "1073741824"). Every DeviceBuffer is counted here before
// its cudaMalloc; one that would pass the cap fails as an out-of-memory would, with the same
// message shape. Plain C++ (built with and without CUDA): the host emulator's DeviceBuffer
// (tools/cuda_host_emu) counts through it too.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace deskpilot::model::cuda {

// A byte count as DESKPILOT_CUDA_MEM_LIMIT takes it: digits, then optionally one of K M G T
// (either case, an optional trailing B or iB: "8GiB"). Throws CudaError naming `source` and the
// text when it is not one, is zero or does not fit in 64 bits.
std::size_t parse_byte_count(std::string_view text, std::string_view source);

// The cap now in force: the one set_memory_limit gave, else DESKPILOT_CUDA_MEM_LIMIT's (read each
// call; unset or empty: none). Throws CudaError for a bad value (parse_byte_count's).
std::optional<std::size_t> memory_limit();
// Overrides the environment (tests; nullopt: back to the environment).
void set_memory_limit(std::optional<std::size_t> bytes);
void clear_memory_limit_override();
// Bytes the engine's device buffers hold now.
std::size_t memory_in_use();

// "12 bytes", "3.5 KiB", "1.2 MiB", "4.00 GiB": sizes in the errors below.
std::string format_bytes(std::size_t bytes);

// "CUDA: out of memory allocating <bytes> bytes (<size>) for '<name>'; <free> of <total> free
// <where>" — how every failed allocation is worded (`where`: "on the device", or the cap).
std::string out_of_memory_message(std::size_t bytes, const std::string& name,
                                  std::size_t free_bytes, std::size_t total_bytes,
                                  const std::string& where);

// Counts `bytes` for buffer `name` against the cap; throws CudaError (out_of_memory_message,
// naming DESKPILOT_CUDA_MEM_LIMIT) when they do not fit, counting nothing.
void reserve_device_memory(std::size_t bytes, const std::string& name);
// Gives back what reserve_device_memory counted.
void release_device_memory(std::size_t bytes) noexcept;

}  // namespace deskpilot::model::cuda
