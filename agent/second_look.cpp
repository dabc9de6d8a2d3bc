#include "agent/second_look.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "planner/parser.h"
#include "vision/image_ops.h"

namespace deskpilot::agent {

vision::Rect second_look_region(vision::Point point, vision::Size screen) {
    const int w = screen.width / 2, h = screen.height / 2;
    if (w <= 0 || h <= 0)
        throw std::invalid_argument("second look: a " + std::to_string(screen.width) + "x" +
                                    std::to_string(screen.height) + " screen has no region");
    return {std::clamp(point.x - w / 2, 0, screen.width - w),
            std::clamp(point.y - h / 2, 0, screen.height - h), w, h};
}

vision::Frame second_look_frame(const vision::Frame& screen, const vision::Rect& region) {
    return vision::enlarge_twice(screen, region);
}

vision::Point from_second_look(vision::Point point, const vision::Rect& region) {
    // Points of the doubled image are never negative (the mapper clamps them into it).
    return {region.x + point.x / 2, region.y + point.y / 2};
}

bool wants_second_look(const planner::Step& step) {
    if (step.actions.empty()) return false;
    const planner::Action& first = step.actions.front();
    const bool one_point = first.type == planner::ActionType::click ||
                           first.type == planner::ActionType::left_double ||
                           first.type == planner::ActionType::right_single;
    return one_point && first.point && !first.out_of_range;
}

planner::Request with_last_image(planner::Request request,
                                 std::shared_ptr<const vision::Frame> image) {
    for (auto m = request.messages.rbegin(); m != request.messages.rend(); ++m)
        for (auto p = m->parts.rbegin(); p != m->parts.rend(); ++p)
            if (p->kind == planner::ContentPart::Kind::image) {
                p->image = std::move(image);
                return request;
            }
    throw std::invalid_argument("second look: the request has no image to replace");
}

SecondLook look_again(model::Vlm& model, const planner::Request& asked, const vision::Frame& screen,
                      const planner::Step& step, const planner::ModelFamily& family,
                      const model::GenerateOptions& options, const model::CancelToken& cancel) {
    if (!wants_second_look(step))
        throw std::invalid_argument("second look: the step's first action is not a click");
    const planner::Action& first = step.actions.front();
    SecondLook look;
    look.region = second_look_region(*first.point, screen.size());
    auto zoomed = std::make_shared<const vision::Frame>(second_look_frame(screen, look.region));
    const auto started = std::chrono::steady_clock::now();
    const model::Response response =
        model.generate(with_last_image(asked, zoomed), options, {}, cancel);
    look.model_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();
    look.response = response.text;
    try {
        const planner::Step again =
            planner::parse_step(response.text, planner::CoordinateMapper(family, zoomed->size()));
        for (const auto& action : again.actions) {
            if (!action.point) continue;
            if (action.type != first.type) {
                look.error = "the second look answered " + std::string(to_string(action.type)) +
                             ", not " + std::string(to_string(first.type));
            } else {
                look.point = from_second_look(*action.point, look.region);
            }
            break;
        }
        if (!look.point && look.error.empty())
            look.error = "the second look's answer has no action with a position";
    } catch (const std::exception& e) {
        look.error = std::string("the second look's answer: ") + e.what();
    }
    return look;
}

planner::Step with_second_look(planner::Step step, const SecondLook& look) {
    if (look.point && !step.actions.empty()) step.actions.front().point = look.point;
    return step;
}

}  // namespace deskpilot::agent
