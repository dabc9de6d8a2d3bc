#include "agent/session.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "vision/image_io.h"

namespace deskpilot::agent {

namespace {

std::string errno_text() {
    return std::strerror(errno);
}

void write_all(int fd, const std::string& data, const std::filesystem::path& path) {
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw SessionError(path.string() + ": write failed: " + errno_text());
        done += static_cast<std::size_t>(n);
    }
}

void fsync_dir(const std::filesystem::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

// Writes `data` to `path` durably and atomically: temp file, fsync, rename, fsync folder.
void write_file_durably(const std::filesystem::path& path, const std::string& data) {
    const auto tmp = path.string() + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw SessionError(tmp + ": cannot create: " + errno_text());
    try {
        write_all(fd, data, tmp);
        if (::fsync(fd) != 0) throw SessionError(tmp + ": fsync failed: " + errno_text());
    } catch (...) {
        ::close(fd);
        throw;
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0)
        throw SessionError(path.string() + ": cannot rename into place: " + errno_text());
    fsync_dir(path.parent_path());
}

template <typename T>
T get_or(const nlohmann::json& json, const char* key, T fallback) {
    const auto it = json.find(key);
    if (it == json.end() || it->is_null()) return fallback;
    return it->get<T>();
}

}  // namespace

nlohmann::json to_json(const Manifest& m) {
    return {{"format_version", m.format_version},
            {"task", m.task},
            {"model", m.model},
            {"family", m.family},
            {"endpoint_host", m.endpoint_host},
            {"screen", {{"width", m.screen.width}, {"height", m.screen.height}}},
            {"monitors", m.monitors},
            {"scale", m.scale},
            {"started_at", m.started_at},
            {"ended_at", m.ended_at},
            {"status", m.status},
            {"message", m.message},
            {"replay_of", m.replay_of}};
}

Manifest manifest_from_json(const nlohmann::json& j) {
    Manifest m;
    m.format_version = get_or<int>(j, "format_version", 0);
    m.task = get_or<std::string>(j, "task", "");
    m.model = get_or<std::string>(j, "model", "");
    m.family = get_or<std::string>(j, "family", "");
    m.endpoint_host = get_or<std::string>(j, "endpoint_host", "");
    if (const auto it = j.find("screen"); it != j.end() && it->is_object())
        m.screen = {get_or<int>(*it, "width", 0), get_or<int>(*it, "height", 0)};
    m.monitors = j.value("monitors", nlohmann::json::array());
    m.scale = get_or<double>(j, "scale", 1.0);
    m.started_at = get_or<std::string>(j, "started_at", "");
    m.ended_at = get_or<std::string>(j, "ended_at", "");
    m.status = get_or<std::string>(j, "status", "");
    m.message = get_or<std::string>(j, "message", "");
    m.replay_of = get_or<std::string>(j, "replay_of", "");
    return m;
}

nlohmann::json to_json(const StepRecord& s) {
    nlohmann::json j = {
        {"index", s.index},
        {"started_at", s.started_at},
        {"screenshot", s.screenshot},
        {"raw_response", s.raw_response},
        {"thought", s.thought},
        {"reflection", s.reflection},
        {"actions", s.actions},
        {"approvals", s.approvals},
        {"results", s.results},
        {"timings_ms",
         {{"capture", s.capture_ms},
          {"model", s.model_ms},
          {"act", s.act_ms},
          {"settle", s.settle_ms}}},
        {"tokens", {{"prompt", s.prompt_tokens}, {"completion", s.completion_tokens}}}};
    if (!s.second_look.is_null()) j["second_look"] = s.second_look;
    return j;
}

StepRecord step_from_json(const nlohmann::json& j) {
    StepRecord s;
    s.index = j.at("index").get<int>();
    s.started_at = get_or<std::string>(j, "started_at", "");
    s.screenshot = get_or<std::string>(j, "screenshot", "");
    s.raw_response = get_or<std::string>(j, "raw_response", "");
    s.thought = get_or<std::string>(j, "thought", "");
    s.reflection = get_or<std::string>(j, "reflection", "");
    s.actions = j.value("actions", nlohmann::json::array());
    s.approvals = j.value("approvals", nlohmann::json::array());
    s.results = j.value("results", nlohmann::json::array());
    const auto t = j.value("timings_ms", nlohmann::json::object());
    s.capture_ms = get_or<double>(t, "capture", 0);
    s.model_ms = get_or<double>(t, "model", 0);
    s.act_ms = get_or<double>(t, "act", 0);
    s.settle_ms = get_or<double>(t, "settle", 0);
    const auto k = j.value("tokens", nlohmann::json::object());
    s.prompt_tokens = get_or<int>(k, "prompt", 0);
    s.completion_tokens = get_or<int>(k, "completion", 0);
    s.second_look = j.value("second_look", nlohmann::json());
    return s;
}

std::string utc_timestamp() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t secs = std::chrono::system_clock::to_time_t(now);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms));
    return buf;
}

std::string session_folder_name(const std::string& task) {
    const std::time_t secs = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    std::string slug;
    for (unsigned char c : task) {
        if (std::isalnum(c))
            slug += static_cast<char>(std::tolower(c));
        else if (!slug.empty() && slug.back() != '-')
            slug += '-';
        if (slug.size() >= 40) break;
    }
    while (!slug.empty() && slug.back() == '-') slug.pop_back();
    return std::string(stamp) + (slug.empty() ? "" : "-" + slug);
}

std::filesystem::path default_sessions_root() {
    if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg)
        return std::filesystem::path(xdg) / "deskpilot/sessions";
    const char* home = std::getenv("HOME");
    return std::filesystem::path(home && *home ? home : "/tmp") / ".local/share/deskpilot/sessions";
}

SessionWriter::SessionWriter(std::filesystem::path dir, Manifest manifest)
    : dir_(std::move(dir)), manifest_(std::move(manifest)) {
    std::error_code ec;
    std::filesystem::create_directories(dir_ / "screenshots", ec);
    if (ec)
        throw SessionError(dir_.string() + ": cannot create the session folder: " + ec.message());
    if (std::filesystem::exists(dir_ / "steps.jsonl"))
        throw SessionError(dir_.string() +
                           ": already holds a session; choose another --session folder");
    if (manifest_.started_at.empty()) manifest_.started_at = utc_timestamp();
    manifest_.status = "running";
    write_manifest();
    const auto steps = dir_ / "steps.jsonl";
    steps_fd_ = ::open(steps.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (steps_fd_ < 0) throw SessionError(steps.string() + ": cannot create: " + errno_text());
    fsync_dir(dir_);
}

SessionWriter::~SessionWriter() {
    if (steps_fd_ >= 0) ::close(steps_fd_);
}

std::string SessionWriter::write_screenshot(int step_index, const vision::Frame& frame) {
    char name[32];
    std::snprintf(name, sizeof name, "screenshots/%06d.png", step_index);
    const auto bytes = vision::encode(frame);
    write_file_durably(dir_ / name, std::string(bytes.begin(), bytes.end()));
    return name;
}

void SessionWriter::append_step(const StepRecord& step) {
    const std::string line =
        to_json(step).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    const auto path = dir_ / "steps.jsonl";
    write_all(steps_fd_, line, path);
    if (::fsync(steps_fd_) != 0)
        throw SessionError(path.string() + ": fsync failed: " + errno_text());
}

void SessionWriter::finish(const std::string& status, const std::string& message) {
    manifest_.status = status;
    manifest_.message = message;
    manifest_.ended_at = utc_timestamp();
    write_manifest();
}

void SessionWriter::write_manifest() {
    write_file_durably(dir_ / "manifest.json", to_json(manifest_).dump(2) + "\n");
}

LoadedSession load_session(const std::filesystem::path& dir) {
    LoadedSession session;
    session.dir = dir;
    const auto manifest_path = dir / "manifest.json";
    std::ifstream manifest_in(manifest_path);
    if (!manifest_in)
        throw SessionError(manifest_path.string() + ": not found (is " + dir.string() +
                           " a session folder?)");
    std::stringstream text;
    text << manifest_in.rdbuf();
    const auto manifest_json = nlohmann::json::parse(text.str(), nullptr, false);
    if (manifest_json.is_discarded() || !manifest_json.is_object())
        throw SessionError(manifest_path.string() + ": not valid JSON");
    session.manifest = manifest_from_json(manifest_json);
    if (session.manifest.format_version < 1 ||
        session.manifest.format_version > kSessionFormatVersion)
        throw SessionError(manifest_path.string() + ": unsupported session format version " +
                           std::to_string(session.manifest.format_version));

    const auto steps_path = dir / "steps.jsonl";
    std::ifstream steps_in(steps_path, std::ios::binary);
    if (!steps_in) return session;  // killed before the first step
    std::stringstream all;
    all << steps_in.rdbuf();
    const std::string data = all.str();
    std::size_t pos = 0;
    int line_number = 0;
    while (pos < data.size()) {
        const std::size_t nl = data.find('\n', pos);
        const bool complete = nl != std::string::npos;
        const std::string line = data.substr(pos, complete ? nl - pos : std::string::npos);
        pos = complete ? nl + 1 : data.size();
        ++line_number;
        if (line.empty()) continue;
        const auto parsed = nlohmann::json::parse(line, nullptr, false);
        const bool last = pos >= data.size();
        if (parsed.is_discarded() || !complete) {
            if (last) {
                session.warnings.push_back(
                    steps_path.string() + ": line " + std::to_string(line_number) +
                    " is incomplete (the run was interrupted while writing it); skipped");
                break;
            }
            throw SessionError(steps_path.string() + ": line " + std::to_string(line_number) +
                               " is not valid JSON");
        }
        try {
            session.steps.push_back(step_from_json(parsed));
        } catch (const nlohmann::json::exception& e) {
            throw SessionError(steps_path.string() + ": line " + std::to_string(line_number) +
                               ": " + e.what());
        }
    }
    return session;
}

}  // namespace deskpilot::agent
