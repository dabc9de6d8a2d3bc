#include "vision/image_io.h"

#include <algorithm>
#include <cctype>
#include <fstream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "vision/cv_frame.h"

namespace deskpilot::vision {

namespace {

cv::Mat bgr_of(const Frame& frame) {
    if (frame.empty()) throw ImageError("cannot encode an empty frame");
    cv::Mat bgr;
    cv::cvtColor(detail::view_of(frame), bgr, cv::COLOR_BGRA2BGR);
    return bgr;
}

ImageFormat format_of(const std::filesystem::path& path) {
    std::string ext = path.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (ext == ".png") return ImageFormat::png;
    if (ext == ".jpg" || ext == ".jpeg") return ImageFormat::jpeg;
    throw ImageError(path.string() + ": unknown image extension '" + ext +
                     "' (use .png, .jpg or .jpeg)");
}

}  // namespace

std::vector<std::uint8_t> encode(const Frame& frame, const EncodeOptions& options) {
    std::vector<std::uint8_t> bytes;
    std::vector<int> params;
    const char* ext = ".png";
    if (options.format == ImageFormat::jpeg) {
        ext = ".jpg";
        params = {cv::IMWRITE_JPEG_QUALITY, std::clamp(options.jpeg_quality, 0, 100)};
    } else {
        params = {cv::IMWRITE_PNG_COMPRESSION, std::clamp(options.png_compression, 0, 9)};
    }
    if (!cv::imencode(ext, bgr_of(frame), bytes, params)) throw ImageError("image encoding failed");
    return bytes;
}

void write_image(const Frame& frame, const std::filesystem::path& path, int jpeg_quality) {
    EncodeOptions options;
    options.format = format_of(path);
    options.jpeg_quality = jpeg_quality;
    const auto bytes = encode(frame, options);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) throw ImageError(path.string() + ": cannot open for writing");
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) throw ImageError(path.string() + ": write failed");
}

Frame read_image(const std::filesystem::path& path) {
    const cv::Mat image = cv::imread(path.string(), cv::IMREAD_COLOR);
    if (image.empty()) throw ImageError(path.string() + ": not a readable PNG or JPEG image");
    cv::Mat bgra;
    cv::cvtColor(image, bgra, cv::COLOR_BGR2BGRA);
    Frame frame = detail::frame_from(bgra);
    frame.timestamp = std::chrono::steady_clock::now();
    return frame;
}

}  // namespace deskpilot::vision
