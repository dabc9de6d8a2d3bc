#include "state_log.h"

namespace deskpilot::sandbox {

StateLog::~StateLog() {
    if (file_) std::fclose(file_);
}

bool StateLog::open(const QString& path) {
    clock_.start();
    if (path.isEmpty()) return true;
    file_ = std::fopen(path.toLocal8Bit().constData(), "w");
    return file_ != nullptr;
}

void StateLog::write(const std::string& event, nlohmann::json fields) {
    if (!file_) return;
    nlohmann::json line = nlohmann::json::object();
    line["t"] = static_cast<double>(clock_.nsecsElapsed() / 100000) / 10.0;
    line["event"] = event;
    for (auto it = fields.begin(); it != fields.end(); ++it) line[it.key()] = it.value();
    const std::string text =
        line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::fwrite(text.data(), 1, text.size(), file_);
    std::fflush(file_);
}

}  // namespace deskpilot::sandbox
