// Encoding frames as PNG/JPEG and writing them to files (OpenCV imgcodecs).
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "vision/frame.h"

namespace deskpilot::vision {

class ImageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

enum class ImageFormat { png, jpeg };

struct EncodeOptions {
    ImageFormat format = ImageFormat::png;
    int jpeg_quality = 90;    // 0..100
    int png_compression = 1;  // 0..9; 1 is fast and still small for screen content
};

// Encodes the frame's pixels (alpha dropped) into an image file's bytes.
std::vector<std::uint8_t> encode(const Frame& frame, const EncodeOptions& options = {});

// Writes the frame to `path`; the format follows the extension (.png, .jpg/.jpeg).
// Throws ImageError naming the path when the extension is unknown or writing fails.
void write_image(const Frame& frame, const std::filesystem::path& path, int jpeg_quality = 90);

// Reads a PNG/JPEG file into a BGRA frame; throws ImageError naming the path on failure.
Frame read_image(const std::filesystem::path& path);

}  // namespace deskpilot::vision
