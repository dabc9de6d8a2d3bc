// Which smart_resize preset a model family's images are sized with before they are sent.
// Looked up in the planner's family table (planner/family.h).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "vision/smart_resize.h"

namespace deskpilot::model::remote {

// The preset for `family`, or nullopt for the empty family (images sent as captured, for hosted
// models that size images themselves). Throws ModelError for a family it does not know, listing
// the known ones.
std::optional<vision::SmartResizeParams> resize_params_for_family(std::string_view family);

// The family names resize_params_for_family accepts, comma-separated, for messages.
std::string known_families();

}  // namespace deskpilot::model::remote
