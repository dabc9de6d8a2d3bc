// The second look: after the model points at something on the whole screen, the quarter of the
// screen around that point (half its width and height), each pixel doubled into an image of the
// screen's size, is asked the same question again, and the point it gives there, mapped back, is
// the one the action uses. A model that sees the screen shrunk (deskpilot-nano sees 1280x800 as
// 640x384: one image token per 64x64 screen pixels) reads that region at twice the scale: one
// token per 32x32 screen pixels, finer than small radios, checkboxes and list rows are apart.
// Only models trained to answer on such views gain (tools/train_nano/make_zoom.py writes the
// examples; tools/train_nano/nano_common.py has the Python twin of the geometry here).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "model/vlm.h"
#include "planner/family.h"
#include "planner/request.h"
#include "planner/step.h"
#include "vision/frame.h"

namespace deskpilot::agent {

// The region of the screen a second look around `point` shows: half the screen's width and
// height, centred on the point where the screen allows, kept inside it.
vision::Rect second_look_region(vision::Point point, vision::Size screen);

// The region's pixels each doubled: an image of (about) the screen's size.
vision::Frame second_look_frame(const vision::Frame& screen, const vision::Rect& region);

// A point of the second look's image -> the screen pixel it shows (halved, rounded down).
vision::Point from_second_look(vision::Point point, const vision::Rect& region);

// Whether a step gets a second look: its first action is a one-point click (click, left_double,
// right_single) inside the screen.
bool wants_second_look(const planner::Step& step);

// The request with its last image replaced (the screenshot the answer points into).
planner::Request with_last_image(planner::Request request,
                                 std::shared_ptr<const vision::Frame> image);

struct SecondLook {
    vision::Rect region;
    std::string response;                // the model's answer on the zoomed view
    std::optional<vision::Point> point;  // mapped to the screen; none when the answer had none
    std::string error;                   // why the answer gave no point
    double model_ms = 0;
};

// Asks the model again on the zoomed view around the first action's point of `step` (which must
// want a second look), with the request that gave `step`. A response that does not parse, or
// has no action with a point, gives no point (and says why); the model's own errors propagate.
SecondLook look_again(model::Vlm& model, const planner::Request& asked, const vision::Frame& screen,
                      const planner::Step& step, const planner::ModelFamily& family,
                      const model::GenerateOptions& options, const model::CancelToken& cancel);

// `step` with its first action's point moved to the second look's, when it gave one.
planner::Step with_second_look(planner::Step step, const SecondLook& look);

}  // namespace deskpilot::agent
