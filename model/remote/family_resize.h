// Which smart_resize preset a model family's images are sized with before they are sent.
// A stand-in until the planner's per-family table exists: replace resize_params_for_family's
// body with a lookup in that table and keep this signature.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "vision/smart_resize.h"

namespace deskpilot::model::remote {

// The preset for `family`, or nullopt for families whose images are sent as captured (doubao
// and the empty family, for hosted models that size images themselves). Throws ModelError for
// a family it does not know, listing the known ones.
std::optional<vision::SmartResizeParams> resize_params_for_family(std::string_view family);

// The family names resize_params_for_family accepts, comma-separated, for messages.
std::string known_families();

}  // namespace deskpilot::model::remote
