#include "model/remote/family_resize.h"

#include "model/vlm.h"
#include "planner/family.h"

namespace deskpilot::model::remote {

// The planner's family table is the one place that knows which image processor each family
// was trained with; requests are sized from it so coordinates map back exactly.
std::optional<vision::SmartResizeParams> resize_params_for_family(std::string_view family) {
    if (family.empty()) return std::nullopt;
    const planner::ModelFamily* entry = planner::find_family(family);
    if (!entry)
        throw ModelError("unknown model family '" + std::string(family) +
                         "' (known: " + known_families() + ")");
    return entry->resize;
}

std::string known_families() {
    return planner::family_names();
}

}  // namespace deskpilot::model::remote
