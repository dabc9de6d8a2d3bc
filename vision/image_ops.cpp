#include "vision/image_ops.h"

#include <algorithm>
#include <cstring>

#include <opencv2/imgproc.hpp>

#include "vision/cv_frame.h"

namespace deskpilot::vision {

namespace {

using detail::frame_from;
using detail::view_of;

void require(const Frame& frame, const char* what) {
    if (frame.empty()) throw ImageError(std::string("cannot ") + what + " an empty frame");
}

cv::Scalar bgr(Colour c) {
    return cv::Scalar(c.b, c.g, c.r, 255);
}

}  // namespace

Frame resize(const Frame& frame, Size size, Interpolation interpolation) {
    require(frame, "resize");
    if (size.width <= 0 || size.height <= 0)
        throw ImageError("cannot resize to " + std::to_string(size.width) + "x" +
                         std::to_string(size.height));
    const int flag = interpolation == Interpolation::area      ? cv::INTER_AREA
                     : interpolation == Interpolation::linear  ? cv::INTER_LINEAR
                     : interpolation == Interpolation::nearest ? cv::INTER_NEAREST_EXACT
                                                               : cv::INTER_CUBIC;
    cv::Mat out;
    cv::resize(view_of(frame), out, cv::Size(size.width, size.height), 0, 0, flag);
    return frame_from(out, frame, frame.origin);
}

Frame crop(const Frame& frame, const Rect& rect) {
    require(frame, "crop");
    const int x1 = std::max(rect.x, 0), y1 = std::max(rect.y, 0);
    const int x2 = std::min(rect.x + rect.width, frame.width),
              y2 = std::min(rect.y + rect.height, frame.height);
    if (x2 <= x1 || y2 <= y1)
        throw ImageError("crop rectangle " + std::to_string(rect.width) + "x" +
                         std::to_string(rect.height) + "+" + std::to_string(rect.x) + "+" +
                         std::to_string(rect.y) + " misses the " + std::to_string(frame.width) +
                         "x" + std::to_string(frame.height) + " frame");
    const cv::Mat part = view_of(frame)(cv::Rect(x1, y1, x2 - x1, y2 - y1));
    return frame_from(part, frame, {frame.origin.x + x1, frame.origin.y + y1});
}

Frame enlarge_twice(const Frame& frame, const Rect& rect) {
    const Frame part = crop(frame, rect);
    // INTER_NEAREST_EXACT takes source pixel floor((x + 0.5) / 2) for x = 2i and 2i + 1: i.
    return resize(part, {part.width * 2, part.height * 2}, Interpolation::nearest);
}

Annotation click_marker(Point at) {
    return {.kind = Annotation::Kind::click, .at = at};
}

Annotation drag_arrow(Point from, Point to) {
    return {.kind = Annotation::Kind::drag, .at = from, .to = to};
}

Annotation scroll_arrow(Point at, Annotation::Direction direction) {
    return {.kind = Annotation::Kind::scroll, .at = at, .direction = direction};
}

Annotation text_label(Point at, std::string text) {
    return {.kind = Annotation::Kind::label, .at = at, .text = std::move(text)};
}

Frame annotate(const Frame& frame, const std::vector<Annotation>& annotations) {
    require(frame, "annotate");
    cv::Mat canvas = view_of(frame).clone();
    // Line widths grow with the image so markers stay visible on 4K screenshots.
    const int thick = std::max(2, std::min(frame.width, frame.height) / 400);
    auto local = [&](Point p) { return cv::Point(p.x - frame.origin.x, p.y - frame.origin.y); };
    for (const auto& a : annotations) {
        const cv::Scalar colour = bgr(a.colour);
        const cv::Point at = local(a.at);
        switch (a.kind) {
            case Annotation::Kind::click: {
                const int r = 6 * thick;
                cv::circle(canvas, at, r, colour, thick, cv::LINE_AA);
                cv::line(canvas, at - cv::Point(r + 2 * thick, 0), at + cv::Point(r + 2 * thick, 0),
                         colour, 1);
                cv::line(canvas, at - cv::Point(0, r + 2 * thick), at + cv::Point(0, r + 2 * thick),
                         colour, 1);
                cv::circle(canvas, at, thick, colour, cv::FILLED, cv::LINE_AA);
                break;
            }
            case Annotation::Kind::drag:
                cv::circle(canvas, at, 3 * thick, colour, cv::FILLED, cv::LINE_AA);
                cv::arrowedLine(canvas, at, local(a.to), colour, thick, cv::LINE_AA, 0, 0.08);
                break;
            case Annotation::Kind::scroll: {
                const int len = 30 * thick;
                cv::Point d(0, 0);
                switch (a.direction) {
                    case Annotation::Direction::up:
                        d = {0, -len};
                        break;
                    case Annotation::Direction::down:
                        d = {0, len};
                        break;
                    case Annotation::Direction::left:
                        d = {-len, 0};
                        break;
                    case Annotation::Direction::right:
                        d = {len, 0};
                        break;
                }
                cv::circle(canvas, at, 3 * thick, colour, thick, cv::LINE_AA);
                cv::arrowedLine(canvas, at, at + d, colour, thick, cv::LINE_AA, 0, 0.3);
                break;
            }
            case Annotation::Kind::label: {
                std::string text = a.text;
                for (auto& c : text)
                    if (static_cast<unsigned char>(c) >= 0x80) c = '?';
                const double scale = 0.5 * thick;
                int baseline = 0;
                const cv::Size size = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, scale,
                                                      thick / 2 + 1, &baseline);
                const cv::Rect box(at.x, at.y, size.width + 4 * thick,
                                   size.height + baseline + 4 * thick);
                cv::rectangle(canvas, box, cv::Scalar(255, 255, 255, 255), cv::FILLED);
                cv::rectangle(canvas, box, colour, 1);
                cv::putText(canvas, text, {at.x + 2 * thick, at.y + 2 * thick + size.height},
                            cv::FONT_HERSHEY_SIMPLEX, scale, colour, thick / 2 + 1, cv::LINE_AA);
                break;
            }
        }
    }
    return frame_from(canvas, frame, frame.origin);
}

}  // namespace deskpilot::vision
