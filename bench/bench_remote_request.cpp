// Cost of turning one new 1920×1080 screenshot into a chat-completions body (resize to the
// UI-TARS smart_resize size, encode, base64, JSON), PNG against JPEG and against the cache the
// client keeps for screenshots it re-sends. Prints milliseconds and ratios to the PNG baseline.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <vector>

#include "model/remote/chat_body.h"

using namespace deskpilot;
using Clock = std::chrono::steady_clock;

namespace {

// A desktop-like screen: flat panels, a few windows and rows of "text" (short dark runs).
std::shared_ptr<const vision::Frame> screen(int seed) {
    const int w = 1920, h = 1080;
    auto pixels =
        std::make_shared<std::vector<std::uint8_t>>(static_cast<std::size_t>(w) * h * 4, 0);
    std::mt19937 rng(seed);
    auto fill = [&](int x0, int y0, int x1, int y1, std::uint8_t b, std::uint8_t g,
                    std::uint8_t r) {
        for (int y = std::max(0, y0); y < std::min(h, y1); ++y)
            for (int x = std::max(0, x0); x < std::min(w, x1); ++x) {
                std::uint8_t* p = pixels->data() + (static_cast<std::size_t>(y) * w + x) * 4;
                p[0] = b, p[1] = g, p[2] = r, p[3] = 255;
            }
    };
    fill(0, 0, w, h, 90, 60, 40);
    for (int win = 0; win < 4; ++win) {
        const int x = rng() % 1200, y = rng() % 600, ww = 400 + rng() % 500, wh = 250 + rng() % 400;
        fill(x, y, x + ww, y + wh, 245, 245, 245);
        fill(x, y, x + ww, y + 28, 200, 120, 60);
        for (int line = y + 40; line < y + wh - 16; line += 18)
            for (int cx = x + 10; cx < x + ww - 20; cx += 7 + rng() % 5)
                if (rng() % 6) fill(cx, line, cx + 5, line + 10, 30, 30, 30);
    }
    auto frame = std::make_shared<vision::Frame>();
    frame->width = w;
    frame->height = h;
    frame->stride = static_cast<std::size_t>(w) * 4;
    frame->pixels = std::move(pixels);
    return frame;
}

planner::Request request_with(std::shared_ptr<const vision::Frame> frame) {
    planner::Request r;
    r.family = "ui-tars-1.5";
    r.messages.push_back({planner::Role::user, {planner::ContentPart::of_image(std::move(frame))}});
    return r;
}

// Median milliseconds of building the body for each of `frames` with a fresh or shared encoder.
double median_ms(const std::vector<std::shared_ptr<const vision::Frame>>& frames,
                 model::remote::ImageEncoding encoding, bool reuse_same_frame, std::size_t* bytes) {
    model::remote::ImageEncoder encoder(encoding);
    std::vector<double> times;
    if (reuse_same_frame)
        (void)model::remote::build_chat_body(request_with(frames[0]), {}, "m", encoder);
    for (const auto& f : frames) {
        const auto request = request_with(reuse_same_frame ? frames[0] : f);
        const auto t0 = Clock::now();
        const auto body = model::remote::build_chat_body(request, {}, "m", encoder);
        const std::string text = body.json.dump();
        times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        *bytes = text.size();
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

}  // namespace

int main() {
    std::vector<std::shared_ptr<const vision::Frame>> frames;
    for (int i = 0; i < 15; ++i) frames.push_back(screen(i));
    std::size_t png_bytes = 0, jpeg_bytes = 0, cached_bytes = 0;
    const double png = median_ms(frames, {vision::ImageFormat::png, 90}, false, &png_bytes);
    const double jpeg = median_ms(frames, {vision::ImageFormat::jpeg, 90}, false, &jpeg_bytes);
    const double cached = median_ms(frames, {vision::ImageFormat::png, 90}, true, &cached_bytes);
    std::printf(
        "request body for one new 1920x1080 screenshot (ui-tars-1.5 -> 1932x1092), median of "
        "%zu:\n",
        frames.size());
    std::printf("  PNG (baseline)      %7.2f ms  %8zu bytes  1.00x\n", png, png_bytes);
    std::printf("  JPEG q90            %7.2f ms  %8zu bytes  %.2fx faster, %.2fx the size\n", jpeg,
                jpeg_bytes, png / jpeg,
                static_cast<double>(jpeg_bytes) / static_cast<double>(png_bytes));
    std::printf("  PNG, re-sent frame  %7.2f ms  %8zu bytes  %.1fx faster (encoder cache)\n",
                cached, cached_bytes, png / cached);
    return 0;
}
