// preprocessor_config.json of a checkpoint: the image processor it was trained with. The engine
// starts from its architecture's processor (vl_model.h preprocess_params) and takes from this
// file what a checkpoint may choose: the pixel bounds (`min_pixels`/`max_pixels`, or
// `size.shortest_edge`/`size.longest_edge` as Qwen3-VL writes them) and the normalisation
// (`image_mean`/`image_std`). The patch and merge sizes must agree with config.json's vision
// config: the tower's weights fix them, so a disagreement is a broken checkpoint, not a choice.
#pragma once

#include <filesystem>

#include "model/engine/vision/preprocess.h"

namespace deskpilot::model::engine {

struct CheckpointPreprocess {
    PreprocessParams params;
    bool pixel_bounds = false;  // the file gave min_pixels or max_pixels
};

// `architecture` with what `model_dir`/preprocessor_config.json says; unchanged when the folder
// has no such file. Throws ConfigError naming the file and the field for a file that is not
// JSON, a field of the wrong type or range (bounds not positive, min above max, a mean or std
// that is not three numbers, a std of 0), or a patch/merge size that disagrees.
CheckpointPreprocess apply_preprocessor_config(const std::filesystem::path& model_dir,
                                               PreprocessParams architecture);

}  // namespace deskpilot::model::engine
