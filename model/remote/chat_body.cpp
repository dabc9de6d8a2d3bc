#include "model/remote/chat_body.h"

#include <algorithm>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "model/remote/family_resize.h"
#include "vision/base64.h"

namespace deskpilot::model::remote {

namespace {

constexpr std::size_t kCachedImages = 16;

// The frame's pixels at `target` size, encoded. Alpha is dropped before resizing: a 3-channel
// resize is a quarter cheaper, and no model sees alpha.
std::vector<std::uint8_t> encode_at(const vision::Frame& frame, vision::Size target,
                                    const ImageEncoding& encoding) {
    const cv::Mat bgra(frame.height, frame.width, CV_8UC4,
                       const_cast<std::uint8_t*>(frame.pixels->data()), frame.stride);
    cv::Mat bgr;
    cv::cvtColor(bgra, bgr, cv::COLOR_BGRA2BGR);
    if (frame.size() != target) {
        // Area averaging when shrinking (no aliasing on text), cubic when enlarging, as the
        // models' own processors (PIL bicubic with antialiasing) roughly do.
        const bool shrinking = static_cast<std::int64_t>(target.width) * target.height <
                               static_cast<std::int64_t>(frame.width) * frame.height;
        cv::Mat out;
        cv::resize(bgr, out, cv::Size(target.width, target.height), 0, 0,
                   shrinking ? cv::INTER_AREA : cv::INTER_CUBIC);
        bgr = std::move(out);
    }
    std::vector<std::uint8_t> bytes;
    const bool jpeg = encoding.format == vision::ImageFormat::jpeg;
    const std::vector<int> params =
        jpeg ? std::vector<int>{cv::IMWRITE_JPEG_QUALITY, std::clamp(encoding.jpeg_quality, 0, 100)}
             : std::vector<int>{cv::IMWRITE_PNG_COMPRESSION, 1};  // fast, still small for screens
    if (!cv::imencode(jpeg ? ".jpg" : ".png", bgr, bytes, params))
        throw ModelError("cannot encode the screenshot (OpenCV imencode failed)");
    return bytes;
}

bool same(const vision::SmartResizeParams& a, const vision::SmartResizeParams& b) {
    return a.factor == b.factor && a.min_pixels == b.min_pixels && a.max_pixels == b.max_pixels &&
           a.max_aspect_ratio == b.max_aspect_ratio;
}

}  // namespace

std::string ImageEncoder::data_url(const vision::Frame& frame,
                                   const std::optional<vision::SmartResizeParams>& resize) {
    if (frame.empty()) throw ModelError("cannot send an empty screenshot (0×0 or without pixels)");
    if (frame.pixels->size() < frame.stride * static_cast<std::size_t>(frame.height) ||
        frame.stride < static_cast<std::size_t>(frame.width) * 4)
        throw ModelError("screenshot " + std::to_string(frame.width) + "×" +
                         std::to_string(frame.height) +
                         ": its pixel buffer is smaller than its size says");
    {
        std::lock_guard lock(mutex_);
        for (const auto& e : cache_) {
            if (e.key == frame.pixels.get() && !e.pixels.expired() && e.width == frame.width &&
                e.height == frame.height && e.resized == resize.has_value() &&
                (!resize || same(e.resize, *resize)))
                return e.url;
        }
    }

    vision::Size target = frame.size();
    if (resize) {
        try {
            target = vision::smart_resize(frame.size(), *resize);
        } catch (const vision::ResizeError& e) {
            throw ModelError(std::string("cannot size the screenshot for the model: ") + e.what());
        }
    }
    std::vector<std::uint8_t> bytes;
    try {
        bytes = encode_at(frame, target, encoding_);
    } catch (const cv::Exception& e) {
        throw ModelError(std::string("cannot encode the screenshot: ") + e.what());
    }
    std::string url = encoding_.format == vision::ImageFormat::jpeg ? "data:image/jpeg;base64,"
                                                                    : "data:image/png;base64,";
    url += vision::base64_encode(bytes.data(), bytes.size());

    std::lock_guard lock(mutex_);
    cache_.push_front({frame.pixels, frame.pixels.get(), frame.width, frame.height,
                       resize.value_or(vision::SmartResizeParams{}), resize.has_value(), url});
    while (cache_.size() > kCachedImages) cache_.pop_back();
    return url;
}

ChatBody build_chat_body(const planner::Request& request, const GenerateOptions& options,
                         const std::string& model, ImageEncoder& encoder) {
    const auto resize = resize_params_for_family(request.family);
    ChatBody out;
    nlohmann::json messages = nlohmann::json::array();
    for (const auto& message : request.messages) {
        bool has_image = false;
        for (const auto& part : message.parts)
            has_image |= part.kind == planner::ContentPart::Kind::image;
        nlohmann::json content;
        if (!has_image && message.parts.size() <= 1) {
            // Plain string content: the form every server accepts for every role.
            content = message.parts.empty() ? std::string() : message.parts.front().text;
        } else {
            content = nlohmann::json::array();
            for (const auto& part : message.parts) {
                if (part.kind == planner::ContentPart::Kind::text) {
                    content.push_back({{"type", "text"}, {"text", part.text}});
                } else {
                    if (!part.image)
                        throw ModelError("an image part of the request has no screenshot");
                    content.push_back(
                        {{"type", "image_url"},
                         {"image_url", {{"url", encoder.data_url(*part.image, resize)}}}});
                    ++out.images;
                }
            }
        }
        messages.push_back({{"role", std::string(planner::to_string(message.role))},
                            {"content", std::move(content)}});
    }
    if (messages.empty()) throw ModelError("the request has no messages");

    nlohmann::json& body = out.json;
    body["model"] = model;
    body["messages"] = std::move(messages);
    body["temperature"] = options.temperature;
    body["top_p"] = options.top_p;
    body["max_tokens"] = options.max_tokens;
    body["frequency_penalty"] = options.frequency_penalty;
    if (!options.stop.empty()) body["stop"] = options.stop;
    if (options.seed) body["seed"] = *options.seed;
    return out;
}

void set_streaming(nlohmann::json& body, bool stream) {
    body["stream"] = stream;
    if (stream) {
        body["stream_options"] = {{"include_usage", true}};  // token counts in the last chunk
    } else {
        body.erase("stream_options");
    }
}

}  // namespace deskpilot::model::remote
