#include "model/remote/json_text.h"

#include <algorithm>

namespace deskpilot::model::remote {

namespace {

bool needs_no_escaping(const std::string& s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u >= 0x20 && u < 0x7f && c != '"' && c != '\\';
    });
}

void append_string(std::string& out, const std::string& s) {
    if (needs_no_escaping(s)) {
        out += '"';
        out += s;
        out += '"';
    } else {
        out += nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
}

void append(std::string& out, const nlohmann::json& value) {
    switch (value.type()) {
        case nlohmann::json::value_t::object: {
            out += '{';
            bool first = true;
            for (auto it = value.begin(); it != value.end(); ++it) {
                if (!first) out += ',';
                first = false;
                append_string(out, it.key());
                out += ':';
                append(out, it.value());
            }
            out += '}';
            break;
        }
        case nlohmann::json::value_t::array: {
            out += '[';
            bool first = true;
            for (const auto& item : value) {
                if (!first) out += ',';
                first = false;
                append(out, item);
            }
            out += ']';
            break;
        }
        case nlohmann::json::value_t::string:
            append_string(out, value.get_ref<const std::string&>());
            break;
        default:
            out += value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
}

}  // namespace

std::string to_json_text(const nlohmann::json& value) {
    std::string out;
    append(out, value);
    return out;
}

}  // namespace deskpilot::model::remote
