// A whole engine::VlModel on a GPU: NativeVlm's `--device cuda`, and the CUDA tests and host
// emulator checks that compare such a model against the CPU one built from the same checkpoint.
#pragma once

#include "model/engine/arch/vl_model.h"
#include "model/engine/config.h"
#include "model/engine/safetensors.h"

namespace deskpilot::model::cuda {

// Replaces `model`'s text decoder and vision tower by the CUDA ones on GPU `device`, with the
// weights of `checkpoint` (which `model`, built on the CPU from it, has already validated) uploaded
// as bf16. Without CUDA in the build, or without the device, the no-device error
// (cuda::require_device's); `model` is then left as it was.
void move_to_device(engine::VlModel& model, const engine::ModelConfig& config,
                    const engine::Checkpoint& checkpoint, int device = 0);

}  // namespace deskpilot::model::cuda
