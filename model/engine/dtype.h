// Element types of engine tensors and the scalar conversions between them.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace deskpilot::model::engine {

// Room is left for quantised types (int8, int4 blocks) later; every switch over DType
// must then be extended, which the compiler's -Wswitch points out.
enum class DType : std::uint8_t { F32, F16, BF16 };

constexpr std::size_t dtype_size(DType t) {
    switch (t) {
        case DType::F32:
            return 4;
        case DType::F16:
            return 2;
        case DType::BF16:
            return 2;
    }
    return 0;
}

constexpr const char* dtype_name(DType t) {
    switch (t) {
        case DType::F32:
            return "f32";
        case DType::F16:
            return "f16";
        case DType::BF16:
            return "bf16";
    }
    return "?";
}

// bf16 is the top half of an f32; rounding to nearest even, NaN kept quiet.
inline float bf16_to_f32(std::uint16_t v) {
    return std::bit_cast<float>(std::uint32_t(v) << 16);
}
inline std::uint16_t f32_to_bf16(float f) {
    std::uint32_t u = std::bit_cast<std::uint32_t>(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return std::uint16_t((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return std::uint16_t(u >> 16);
}

// IEEE half precision, written out so it does not depend on compiler support for _Float16.
inline float f16_to_f32(std::uint16_t h) {
    const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
    const std::uint32_t exp = (h >> 10) & 0x1fu;
    std::uint32_t mant = h & 0x3ffu;
    std::uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {  // subnormal: normalise
            int e = -1;
            do {
                ++e;
                mant <<= 1;
            } while ((mant & 0x400u) == 0);
            bits = sign | std::uint32_t(127 - 15 - e) << 23 | (mant & 0x3ffu) << 13;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | mant << 13;
    } else {
        bits = sign | (exp + 127 - 15) << 23 | mant << 13;
    }
    return std::bit_cast<float>(bits);
}

inline std::uint16_t f32_to_f16(float f) {
    const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
    const std::uint32_t sign = (u >> 16) & 0x8000u;
    const std::uint32_t absu = u & 0x7fffffffu;
    if (absu > 0x7f800000u) return std::uint16_t(sign | 0x7e00u);   // NaN
    if (absu >= 0x477ff000u) return std::uint16_t(sign | 0x7c00u);  // overflow to inf
    if (absu < 0x38800000u) {  // subnormal or zero in half precision
        const float a = std::bit_cast<float>(absu);
        // Scale so the half subnormal unit (2^-24) becomes 1, round to nearest even.
        const float scaled = a * 16777216.0f;
        std::uint32_t r = std::uint32_t(scaled);
        const float rem = scaled - float(r);
        if (rem > 0.5f || (rem == 0.5f && (r & 1u))) ++r;
        return std::uint16_t(sign | r);
    }
    std::uint32_t m = absu + 0xfffu + ((absu >> 13) & 1u);  // round mantissa to 10 bits
    return std::uint16_t(sign | (((m >> 23) - 127 + 15) << 10) | ((m >> 13) & 0x3ffu));
}

}  // namespace deskpilot::model::engine
