#include "model/engine/cuda/memory_limit.h"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "model/engine/cuda/device.h"

namespace deskpilot::model::cuda {

namespace {

std::mutex g_mutex;  // guards the two below (allocations are few: weights, cache, scratch)
std::size_t g_in_use = 0;
std::optional<std::optional<std::size_t>> g_override;

}  // namespace

std::string format_bytes(std::size_t bytes) {
    if (bytes < 1024) return std::to_string(bytes) + " bytes";
    static const char* const units[] = {"KiB", "MiB", "GiB", "TiB"};
    double v = double(bytes) / 1024;
    int u = 0;
    for (; v >= 1024 && u < 3; ++u) v /= 1024;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f %s", u >= 2 ? 2 : 1, v, units[u]);
    return buf;
}

std::size_t parse_byte_count(std::string_view text, std::string_view source) {
    const auto bad = [&](const char* why) {
        return CudaError(std::string(source) + " '" + std::string(text) + "' " + why +
                         ": give a byte count such as 1073741824, 512M or 24G");
    };
    std::uint64_t n = 0;
    const char* end = text.data() + text.size();
    const auto [p, ec] = std::from_chars(text.data(), end, n);
    if (text.empty() || p == text.data()) throw bad("is not a byte count");
    if (ec == std::errc::result_out_of_range) throw bad("is too large");
    std::string_view unit(p, std::size_t(end - p));
    int shift = 0;
    if (!unit.empty()) {
        switch (std::toupper(static_cast<unsigned char>(unit[0]))) {
            case 'K':
                shift = 10;
                break;
            case 'M':
                shift = 20;
                break;
            case 'G':
                shift = 30;
                break;
            case 'T':
                shift = 40;
                break;
            default:
                throw bad("has an unknown unit");
        }
        unit.remove_prefix(1);
        if (unit == "iB" || unit == "ib" || unit == "IB" || unit == "B" || unit == "b") unit = {};
        if (!unit.empty()) throw bad("has an unknown unit");
    }
    if (n == 0) throw bad("is zero");
    if (shift > 0 && n > (UINT64_MAX >> shift)) throw bad("is too large");
    return std::size_t(n << shift);
}

std::optional<std::size_t> memory_limit() {
    {
        std::lock_guard lock(g_mutex);
        if (g_override) return *g_override;
    }
    const char* env = std::getenv("DESKPILOT_CUDA_MEM_LIMIT");
    if (env == nullptr || *env == '\0') return std::nullopt;
    return parse_byte_count(env, "DESKPILOT_CUDA_MEM_LIMIT");
}

void set_memory_limit(std::optional<std::size_t> bytes) {
    std::lock_guard lock(g_mutex);
    g_override.emplace(bytes);
}

void clear_memory_limit_override() {
    std::lock_guard lock(g_mutex);
    g_override.reset();
}

std::size_t memory_in_use() {
    std::lock_guard lock(g_mutex);
    return g_in_use;
}

std::string out_of_memory_message(std::size_t bytes, const std::string& name,
                                  std::size_t free_bytes, std::size_t total_bytes,
                                  const std::string& where) {
    return "CUDA: out of memory allocating " + std::to_string(bytes) + " bytes (" +
           format_bytes(bytes) + ") for '" + name + "'; " + format_bytes(free_bytes) + " of " +
           format_bytes(total_bytes) + " free " + where;
}

void reserve_device_memory(std::size_t bytes, const std::string& name) {
    const std::optional<std::size_t> limit = memory_limit();  // may throw: a bad value
    std::lock_guard lock(g_mutex);
    if (limit && (bytes > *limit || g_in_use > *limit - bytes)) {
        const std::size_t free_bytes = g_in_use < *limit ? *limit - g_in_use : 0;
        throw CudaError(out_of_memory_message(
            bytes, name, free_bytes, *limit,
            "under DESKPILOT_CUDA_MEM_LIMIT (" + std::to_string(*limit) + " bytes)"));
    }
    g_in_use += bytes;
}

void release_device_memory(std::size_t bytes) noexcept {
    std::lock_guard lock(g_mutex);
    g_in_use -= std::min(bytes, g_in_use);
}

}  // namespace deskpilot::model::cuda
