// StateLog: the sandbox's --state file, one JSON object a line, flushed as it is written so
// a test or a scripted model sees every user-visible change at once.
#pragma once

#include <QElapsedTimer>
#include <QString>

#include <cstdio>
#include <nlohmann/json.hpp>

namespace deskpilot::sandbox {

class StateLog {
  public:
    StateLog() = default;
    ~StateLog();
    StateLog(const StateLog&) = delete;
    StateLog& operator=(const StateLog&) = delete;

    // Opens (truncating) `path`; an empty path disables logging. Returns false on failure.
    bool open(const QString& path);
    // Appends {"t": ms since start, "event": event, ...fields}.
    void write(const std::string& event, nlohmann::json fields = nlohmann::json::object());

  private:
    std::FILE* file_ = nullptr;
    QElapsedTimer clock_;
};

}  // namespace deskpilot::sandbox
