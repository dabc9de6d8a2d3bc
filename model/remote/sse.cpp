#include "model/remote/sse.h"

namespace deskpilot::model::remote {

void SseParser::feed(std::string_view bytes) {
    for (const char c : bytes) {
        // Lines end in \n, \r or \r\n; a \n right after \r belongs to the same line ending.
        if (c == '\n' && last_was_cr_) {
            last_was_cr_ = false;
            continue;
        }
        last_was_cr_ = (c == '\r');
        if (c == '\n' || c == '\r') {
            line(pending_);
            pending_.clear();
        } else {
            pending_ += c;
        }
    }
}

void SseParser::finish() {
    if (!pending_.empty()) {
        line(pending_);
        pending_.clear();
    }
    line({});
}

void SseParser::line(std::string_view text) {
    if (text.empty()) {  // a blank line dispatches the event
        if (has_data_) {
            const std::string data = std::move(data_);
            data_.clear();
            has_data_ = false;
            on_event_(data);
        }
        return;
    }
    if (text.front() == ':') return;  // comment (keep-alive)
    std::string_view field = text;
    std::string_view value;
    if (const auto colon = text.find(':'); colon != std::string_view::npos) {
        field = text.substr(0, colon);
        value = text.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (field != "data") return;  // event:, id:, retry: carry nothing we use
    if (has_data_) data_ += '\n';
    data_ += value;
    has_data_ = true;
}

}  // namespace deskpilot::model::remote
