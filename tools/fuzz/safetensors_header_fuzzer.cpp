// libFuzzer target for the safetensors header parser: any byte string must either parse or
// raise CheckpointError; crashes, sanitizer reports and other exceptions are bugs.
#include <cstddef>
#include <cstdint>

#include "model/engine/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto header =
            deskpilot::model::engine::parse_safetensors_header("fuzz-input", data, size);
        // Touch what a loader would trust: every accepted range must lie inside the input.
        for (const auto& t : header.tensors)
            if (header.data_start + t.end > size) __builtin_trap();
    } catch (const deskpilot::model::engine::CheckpointError&) {
    }
    return 0;
}
