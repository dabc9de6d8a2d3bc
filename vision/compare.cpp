#include "vision/compare.h"

#include <algorithm>
#include <cstdlib>

#include <opencv2/imgproc.hpp>

namespace deskpilot::vision {

namespace {

cv::Mat gray_view(const Frame& f, const cv::Rect& roi) {
    const cv::Mat bgra(f.height, f.width, CV_8UC4, const_cast<std::uint8_t*>(f.pixels->data()), f.stride);
    cv::Mat gray;
    cv::cvtColor(bgra(roi), gray, cv::COLOR_BGRA2GRAY);
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

std::optional<PatchMatch> locate_patch(const Frame& recorded, const Frame& live, Point at, int patch_size,
                                       int search_radius) {
    if (recorded.empty() || live.empty()) return std::nullopt;
    const int half = patch_size / 2;
    // The patch, clipped to the recorded frame; remember where `at` sits inside it.
    cv::Rect patch(at.x - half, at.y - half, patch_size, patch_size);
    patch &= cv::Rect(0, 0, recorded.width, recorded.height);
    if (patch.width < 8 || patch.height < 8) return std::nullopt;
    const Point offset{at.x - patch.x, at.y - patch.y};

    cv::Rect window(patch.x - search_radius, patch.y - search_radius, patch.width + 2 * search_radius,
                    patch.height + 2 * search_radius);
    window &= cv::Rect(0, 0, live.width, live.height);
    if (window.width < patch.width || window.height < patch.height) return std::nullopt;

    const cv::Mat templ = gray_view(recorded, patch);
    const cv::Mat search = gray_view(live, window);
    cv::Mat scores;
    // TM_CCOEFF_NORMED is undefined on a flat template (zero variance); TM_CCORR_NORMED is not.
    cv::Scalar mean, stddev;
    cv::meanStdDev(templ, mean, stddev);
    const int method = stddev[0] < 1.0 ? cv::TM_SQDIFF_NORMED : cv::TM_CCOEFF_NORMED;
    cv::matchTemplate(search, templ, scores, method);
    double min_value, max_value;
    cv::Point min_loc, max_loc;
    cv::minMaxLoc(scores, &min_value, &max_value, &min_loc, &max_loc);
    const bool lower_is_better = method == cv::TM_SQDIFF_NORMED;
    const cv::Point best = lower_is_better ? min_loc : max_loc;
    // Prefer the recorded position when it scores as well as the best (flat regions tie).
    const cv::Point home(patch.x - window.x, patch.y - window.y);
    cv::Point chosen = best;
    double score = lower_is_better ? 1.0 - min_value : max_value;
    const double home_value = scores.at<float>(home.y, home.x);
    const double home_score = lower_is_better ? 1.0 - home_value : home_value;
    if (home_score >= score - 1e-4) {
        chosen = home;
        score = home_score;
    }
    return PatchMatch{{window.x + chosen.x + offset.x, window.y + chosen.y + offset.y}, score};
}

}  // namespace deskpilot::vision

namespace deskpilot::vision {

Frame side_by_side(const Frame& a, const Frame& b, const Rect& a_box, const Rect& b_box) {
    auto as_bgr = [](const Frame& f, const Rect& box) {
        const cv::Mat bgra(f.height, f.width, CV_8UC4, const_cast<std::uint8_t*>(f.pixels->data()), f.stride);
        cv::Mat bgr;
        cv::cvtColor(bgra, bgr, cv::COLOR_BGRA2BGR);
        cv::rectangle(bgr, cv::Rect(box.x, box.y, box.width, box.height), cv::Scalar(0, 0, 255), 3);
        return bgr;
    };
    cv::Mat left = as_bgr(a, a_box), right = as_bgr(b, b_box);
    if (right.rows != left.rows) {
        cv::Mat scaled;
        cv::resize(right, scaled, cv::Size(std::max(1, right.cols * left.rows / std::max(1, right.rows)), left.rows));
        right = scaled;
    }
    cv::Mat gap(left.rows, 12, CV_8UC3, cv::Scalar(255, 255, 255));
    cv::Mat joined;
    cv::hconcat(std::vector<cv::Mat>{left, gap, right}, joined);
    cv::Mat bgra;
    cv::cvtColor(joined, bgra, cv::COLOR_BGR2BGRA);
    Frame out;
    out.width = bgra.cols;
    out.height = bgra.rows;
    out.stride = static_cast<std::size_t>(bgra.cols) * 4;
    auto px = std::make_shared<std::vector<std::uint8_t>>(out.stride * out.height);
    for (int y = 0; y < bgra.rows; ++y) std::copy_n(bgra.ptr<std::uint8_t>(y), out.stride, px->data() + y * out.stride);
    out.pixels = std::move(px);
    return out;
}

}  // namespace deskpilot::vision
