#include "model/engine/arch/text_decoder.h"

#include "model/engine/arch/qwen2_5_vl.h"
#include "model/engine/arch/qwen3_vl_moe.h"

namespace deskpilot::model::engine {

std::unique_ptr<TextDecoder> make_text_decoder(const ModelConfig& config,
                                               std::shared_ptr<const Checkpoint> checkpoint,
                                               cpu::ThreadPool& pool) {
    if (config.architecture == Architecture::qwen2_5_vl)
        return std::make_unique<Qwen25TextModel>(config, std::move(checkpoint), pool);
    return std::make_unique<Qwen3MoeTextModel>(config, std::move(checkpoint), pool);
}

}  // namespace deskpilot::model::engine
