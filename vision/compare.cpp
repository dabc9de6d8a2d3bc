#include "vision/compare.h"

#include <algorithm>
#include <cstdlib>

#include <opencv2/imgproc.hpp>

#include "vision/cv_frame.h"

namespace deskpilot::vision {

namespace {

cv::Mat gray_view(const Frame& f, const cv::Rect& roi) {
    cv::Mat gray;
    cv::cvtColor(detail::view_of(f)(roi), gray, cv::COLOR_BGRA2GRAY);
    return gray;
}

}  // namespace

double changed_fraction(const Frame& a, const Frame& b, const DiffOptions& options) {
    if (a.empty() || b.empty() || a.width != b.width || a.height != b.height) return 1.0;
    const int step = std::max(1, options.sample_step);
    std::size_t changed = 0, total = 0;
    for (int y = 0; y < a.height; y += step) {
        const std::uint8_t* ra = a.row(y);
        const std::uint8_t* rb = b.row(y);
        for (int x = 0; x < a.width; x += step) {
            const std::uint8_t* pa = ra + 4 * x;
            const std::uint8_t* pb = rb + 4 * x;
            const bool differs = std::abs(pa[0] - pb[0]) > options.tolerance ||
                                 std::abs(pa[1] - pb[1]) > options.tolerance ||
                                 std::abs(pa[2] - pb[2]) > options.tolerance;
            changed += differs;
            ++total;
        }
    }
    return total ? static_cast<double>(changed) / static_cast<double>(total) : 0.0;
}

namespace {

struct Located {
    PatchMatch match;
    bool unique = false;  // the best place beats every other place clearly
};

std::optional<Located> locate_once(const Frame& recorded, const Frame& live, Point at,
                                   int patch_size, int search_radius) {
    const int half = patch_size / 2;
    // The patch, clipped to the recorded frame; remember where `at` sits inside it.
    cv::Rect patch(at.x - half, at.y - half, patch_size, patch_size);
    patch &= cv::Rect(0, 0, recorded.width, recorded.height);
    if (patch.width < 8 || patch.height < 8) return std::nullopt;
    const Point offset{at.x - patch.x, at.y - patch.y};

    cv::Rect window(patch.x - search_radius, patch.y - search_radius,
                    patch.width + 2 * search_radius, patch.height + 2 * search_radius);
    window &= cv::Rect(0, 0, live.width, live.height);
    if (window.width < patch.width || window.height < patch.height) return std::nullopt;

    const cv::Mat templ = gray_view(recorded, patch);
    const cv::Mat search = gray_view(live, window);
    // TM_CCOEFF_NORMED is undefined on a flat template (zero variance); TM_SQDIFF_NORMED is not.
    cv::Scalar mean, stddev;
    cv::meanStdDev(templ, mean, stddev);
    const bool flat = stddev[0] < 1.0;
    cv::Mat scores;
    cv::matchTemplate(search, templ, scores, flat ? cv::TM_SQDIFF_NORMED : cv::TM_CCOEFF_NORMED);
    if (flat) scores = 1.0 - scores;  // higher is better from here on

    double best_score;
    cv::Point best;
    cv::minMaxLoc(scores, nullptr, &best_score, nullptr, &best);
    // Prefer the recorded position when it scores as well as the best (flat regions tie).
    const cv::Point home(patch.x - window.x, patch.y - window.y);
    if (home.x < scores.cols && home.y < scores.rows &&
        scores.at<float>(home.y, home.x) >= best_score - 1e-4) {
        best = home;
        best_score = scores.at<float>(home.y, home.x);
    }
    // The runner-up away from the best place: if it is nearly as good, the match is ambiguous
    // (a patch inside a long text field matches all along it).
    cv::Mat masked = scores.clone();
    const int keep_out = std::max(3, patch_size / 16);
    cv::rectangle(
        masked, cv::Rect(best.x - keep_out, best.y - keep_out, 2 * keep_out + 1, 2 * keep_out + 1),
        cv::Scalar(-2.0), cv::FILLED);
    double second = -2.0;
    cv::minMaxLoc(masked, nullptr, &second);
    Located located;
    located.match = {{window.x + best.x + offset.x, window.y + best.y + offset.y}, best_score};
    located.unique = best_score - second >= 0.02;
    return located;
}

}  // namespace

std::optional<PatchMatch> locate_patch(const Frame& recorded, const Frame& live, Point at,
                                       int patch_size, int search_radius) {
    if (recorded.empty() || live.empty()) return std::nullopt;
    // Coarse context only when needed: a larger patch takes in labels and borders around a
    // featureless target and makes its position unambiguous.
    std::optional<Located> result;
    for (int size = patch_size; size <= patch_size * 4; size *= 2) {
        const auto attempt = locate_once(recorded, live, at, size, search_radius);
        if (!attempt) break;
        result = attempt;
        if (attempt->unique) break;
    }
    if (!result) return std::nullopt;
    return result->match;
}

}  // namespace deskpilot::vision

namespace deskpilot::vision {

Frame side_by_side(const Frame& a, const Frame& b, const Rect& a_box, const Rect& b_box) {
    auto as_bgr = [](const Frame& f, const Rect& box) {
        cv::Mat bgr;
        cv::cvtColor(detail::view_of(f), bgr, cv::COLOR_BGRA2BGR);
        cv::rectangle(bgr, cv::Rect(box.x, box.y, box.width, box.height), cv::Scalar(0, 0, 255), 3);
        return bgr;
    };
    cv::Mat left = as_bgr(a, a_box), right = as_bgr(b, b_box);
    if (right.rows != left.rows) {
        cv::Mat scaled;
        cv::resize(
            right, scaled,
            cv::Size(std::max(1, right.cols * left.rows / std::max(1, right.rows)), left.rows));
        right = scaled;
    }
    cv::Mat gap(left.rows, 12, CV_8UC3, cv::Scalar(255, 255, 255));
    cv::Mat joined;
    cv::hconcat(std::vector<cv::Mat>{left, gap, right}, joined);
    cv::Mat bgra;
    cv::cvtColor(joined, bgra, cv::COLOR_BGR2BGRA);
    return detail::frame_from(bgra);
}

}  // namespace deskpilot::vision
