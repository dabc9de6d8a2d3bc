// The JSON body of a chat-completions request built from a planner::Request: roles, text parts
// and screenshots as data: URLs, each resized to the family's smart_resize size first.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "model/vlm.h"
#include "planner/request.h"
#include "vision/image_io.h"
#include "vision/smart_resize.h"

namespace deskpilot::model::remote {

struct ImageEncoding {
    vision::ImageFormat format = vision::ImageFormat::png;
    int jpeg_quality = 90;
};

// Turns frames into data: URLs. The conversation re-sends the last few screenshots every step,
// so the URLs of recent frames are kept (keyed by their shared pixel buffer) instead of being
// resized and encoded again each time.
class ImageEncoder {
  public:
    explicit ImageEncoder(ImageEncoding encoding = {}) : encoding_(encoding) {}

    // Throws ModelError for an empty frame or one smart_resize rejects.
    std::string data_url(const vision::Frame& frame,
                         const std::optional<vision::SmartResizeParams>& resize);

  private:
    struct Entry {
        std::weak_ptr<const std::vector<std::uint8_t>> pixels;
        const void* key = nullptr;
        int width = 0, height = 0;
        vision::SmartResizeParams resize{};
        bool resized = false;
        std::string url;
    };
    ImageEncoding encoding_;
    std::mutex mutex_;
    std::deque<Entry> cache_;
};

struct ChatBody {
    nlohmann::json json;
    int images = 0;  // image parts in the request, for messages about per-prompt limits
};

ChatBody build_chat_body(const planner::Request& request, const GenerateOptions& options,
                         const std::string& model, ImageEncoder& encoder);

// Sets or clears the streaming fields of a built body.
void set_streaming(nlohmann::json& body, bool stream);

}  // namespace deskpilot::model::remote
