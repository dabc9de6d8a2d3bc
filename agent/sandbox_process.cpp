#include "agent/sandbox_process.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

namespace deskpilot::agent {

namespace {

std::string read_all(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::filesystem::path make_temp_dir() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "deskpilot-sandbox-XXXXXX").string();
    if (!::mkdtemp(tmpl.data()))
        throw ProcessError("cannot create a temporary folder for the sandbox");
    return tmpl;
}

}  // namespace

std::filesystem::path default_sandbox_path() {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        const auto beside = self.parent_path() / "deskpilot-sandbox";
        if (std::filesystem::exists(beside)) return beside;
    }
    return "deskpilot-sandbox";
}

SandboxProcess::SandboxProcess(SandboxOptions options) : options_(std::move(options)) {
    if (options_.display.empty()) throw ProcessError("the sandbox needs a display (e.g. \":99\")");
    if (options_.work_dir.empty()) {
        options_.work_dir = make_temp_dir();
        owns_work_dir_ = true;
    }
    std::filesystem::create_directories(options_.work_dir);
    state_path_ = options_.work_dir / "state.jsonl";
    layout_path_ = options_.work_dir / "layout.json";
    stderr_path_ = options_.work_dir / "sandbox.stderr";
    std::filesystem::remove(state_path_);
    std::filesystem::remove(layout_path_);

    SpawnOptions spawn;
    const auto exe = options_.executable.empty() ? default_sandbox_path() : options_.executable;
    spawn.argv = {exe.string(), "--state", state_path_.string(), "--layout-json",
                  layout_path_.string()};
    if (options_.seed)
        spawn.argv.insert(spawn.argv.end(), {"--seed", std::to_string(*options_.seed)});
    if (options_.geometry) {
        const auto& g = *options_.geometry;
        spawn.argv.insert(
            spawn.argv.end(),
            {"--geometry", std::to_string(g.width) + "x" + std::to_string(g.height) + "+" +
                               std::to_string(g.x) + "+" + std::to_string(g.y)});
    }
    if (options_.scale) {
        std::ostringstream s;
        s << *options_.scale;
        spawn.argv.insert(spawn.argv.end(), {"--scale", s.str()});
    }
    spawn.argv.insert(spawn.argv.end(), options_.extra_args.begin(), options_.extra_args.end());
    spawn.env_set = {{"DISPLAY", options_.display}, {"QT_QPA_PLATFORM", "xcb"}};
    // Our own scale flag decides; inherited Qt scaling variables would make rectangles lie.
    spawn.env_unset = {"QT_SCALE_FACTOR", "QT_SCREEN_SCALE_FACTORS", "QT_AUTO_SCREEN_SCALE_FACTOR",
                       "QT_ENABLE_HIGHDPI_SCALING", "WAYLAND_DISPLAY"};
    spawn.stderr_path = stderr_path_;
    process_ = std::make_unique<ChildProcess>(spawn);

    const auto ready =
        wait_for_event([](const nlohmann::json& e) { return e.value("event", "") == "ready"; },
                       options_.ready_timeout);
    if (!ready) {
        const auto status = process_->wait_status();
        process_->terminate(std::chrono::milliseconds(500));
        std::string err = read_all(stderr_path_);
        if (err.size() > 800) err = "..." + err.substr(err.size() - 800);
        throw ProcessError("deskpilot-sandbox on " + options_.display + " did not become ready (" +
                           (status ? describe_wait_status(*status) : std::string("timed out")) +
                           ")" + (err.empty() ? "" : ": " + err));
    }
}

SandboxProcess::~SandboxProcess() {
    terminate();
    if (owns_work_dir_) {
        std::error_code ignored;
        std::filesystem::remove_all(options_.work_dir, ignored);
    }
}

void SandboxProcess::terminate() {
    if (process_) process_->terminate();
}

std::vector<nlohmann::json> SandboxProcess::events() const {
    std::vector<nlohmann::json> result;
    std::istringstream lines(read_all(state_path_));
    std::string line;
    while (std::getline(lines, line)) {
        if (lines.eof()) break;  // no newline yet: the line may still be being written
        auto parsed = nlohmann::json::parse(line, nullptr, false);
        if (!parsed.is_discarded()) result.push_back(std::move(parsed));
    }
    return result;
}

std::optional<nlohmann::json> SandboxProcess::wait_for_event(
    const std::function<bool(const nlohmann::json&)>& match,
    std::chrono::milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        for (const auto& e : events())
            if (match(e)) return e;
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        if (process_ && !process_->running()) {
            // One last look: the event may have been written just before the exit.
            for (const auto& e : events())
                if (match(e)) return e;
            return std::nullopt;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

nlohmann::json SandboxProcess::layout() const {
    const std::string text = read_all(layout_path_);
    auto parsed = nlohmann::json::parse(text, nullptr, false);
    if (parsed.is_discarded())
        throw ProcessError(layout_path_.string() + ": not valid layout JSON");
    return parsed;
}

nlohmann::json SandboxProcess::widgets() const {
    return layout().value("widgets", nlohmann::json::array());
}

std::optional<vision::Rect> SandboxProcess::widget_rect(const std::string& name) const {
    for (const auto& w : widgets()) {
        if (w.value("name", "") != name) continue;
        const auto& r = w.at("rect");
        return vision::Rect{r.at(0).get<int>(), r.at(1).get<int>(), r.at(2).get<int>(),
                            r.at(3).get<int>()};
    }
    return std::nullopt;
}

}  // namespace deskpilot::agent
