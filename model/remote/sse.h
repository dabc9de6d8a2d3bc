// Incremental parser for server-sent events (the text/event-stream format OpenAI-compatible
// servers stream chat completions in). Bytes arrive in arbitrary pieces; whole events come out.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace deskpilot::model::remote {

class SseParser {
  public:
    // Called with each event's data (its data: lines joined by '\n'), in order.
    using EventHandler = std::function<void(std::string_view data)>;

    explicit SseParser(EventHandler on_event) : on_event_(std::move(on_event)) {}

    void feed(std::string_view bytes);
    // Dispatches an event still pending when the stream ends without a blank line after it.
    void finish();

  private:
    void line(std::string_view text);

    EventHandler on_event_;
    std::string pending_;  // bytes of an incomplete line
    std::string data_;     // data of the event being assembled
    bool has_data_ = false;
    bool last_was_cr_ = false;
};

}  // namespace deskpilot::model::remote
