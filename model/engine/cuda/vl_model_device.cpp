#include "model/engine/cuda/vl_model_device.h"

#include <memory>

#include "model/engine/cuda/text_decoder.h"
#include "model/engine/cuda/text_model.h"
#include "model/engine/cuda/vision_model.h"
#include "model/engine/cuda/vision_qwen2_5.h"

namespace deskpilot::model::cuda {

void move_to_device(engine::VlModel& model, const engine::ModelConfig& config,
                    const engine::Checkpoint& checkpoint, int device) {
    // Both GPU parts are built before either replaces its CPU twin, so a failure (no device, out
    // of memory) leaves the CPU model whole.
    auto text =
        std::make_unique<CudaTextDecoder>(CudaTextModel::upload(model.text(), checkpoint, device));
    std::unique_ptr<engine::VisionEncoder> vision;
    if (config.architecture == engine::Architecture::qwen2_5_vl)
        vision = std::make_unique<CudaQwen25Vision>(config, checkpoint, device);
    else
        vision = std::make_unique<CudaQwen3Vision>(config, checkpoint, device);
    model.replace_text(std::move(text));
    model.replace_vision(std::move(vision));
}

}  // namespace deskpilot::model::cuda
