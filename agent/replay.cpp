#include "agent/replay.h"

#include <cmath>
#include <ctime>
#include <thread>

#include "agent/action_executor.h"
#include "agent/timing.h"
#include "vision/compare.h"
#include "vision/image_io.h"

namespace deskpilot::agent {

namespace {

struct Thresholds {
    double min_score;
    int max_shift;  // pixels a patch may have moved
};

Thresholds thresholds(VerifyMode mode, int search_radius) {
    switch (mode) {
        case VerifyMode::strict:
            return {0.93, 4};
        case VerifyMode::loose:
            return {0.80, search_radius};
        case VerifyMode::off:
            return {0.0, 0};
    }
    return {0.8, search_radius};
}

// Seconds since the epoch of "2026-11-28T13:05:09.123Z"; nullopt when unparsable.
std::optional<double> parse_timestamp(const std::string& text) {
    std::tm tm{};
    int ms = 0;
    if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                    &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6)
        return std::nullopt;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return static_cast<double>(timegm(&tm)) + ms / 1000.0;
}

struct Mismatch {
    std::string message;
};

}  // namespace

std::optional<VerifyMode> verify_mode_from_string(const std::string& text) {
    if (text == "strict") return VerifyMode::strict;
    if (text == "loose") return VerifyMode::loose;
    if (text == "off") return VerifyMode::off;
    return std::nullopt;
}

ReplayResult replay(const ReplayOptions& options, vision::ScreenSource& screen,
                    actuators::Actuator& actuator, RunControl& control, AgentObserver& observer) {
    ReplayResult result;
    result.session_dir = options.session_dir;
    LoadedSession source;
    std::unique_ptr<SessionWriter> session;
    try {
        source = load_session(options.source);
        for (const auto& w : source.warnings) observer.on_warning(w);
        Manifest manifest = source.manifest;
        manifest.replay_of = options.source.string();
        manifest.screen = screen.screen_size();
        manifest.started_at.clear();
        manifest.ended_at.clear();
        manifest.message.clear();
        session = std::make_unique<SessionWriter>(options.session_dir, manifest);
        observer.on_run_started(session->manifest(), session->dir());
    } catch (const std::exception& e) {
        result.message = e.what();
        observer.on_error(result.message);
        observer.on_run_finished(RunStatus::error, result.message);
        return result;
    }

    ActionExecutor executor(actuator);
    const Thresholds limits = thresholds(options.verify, options.search_radius);
    RunStatus status = RunStatus::finished;
    std::string message = "replayed";
    std::optional<double> previous_start;
    try {
        for (const StepRecord& recorded : source.steps) {
            if (recorded.index < options.from || recorded.index > options.to) continue;
            if (control.stop_requested() || !control.wait_until_runnable())
                throw RunStatus::stopped;

            // Keep the recording's rhythm, scaled by --speed and capped: settling already waits
            // for the screen, this only restores deliberate pauses.
            const auto start = parse_timestamp(recorded.started_at);
            if (previous_start && start && options.speed > 0) {
                const double gap = std::clamp((*start - *previous_start) / options.speed, 0.0, 3.0);
                std::this_thread::sleep_for(std::chrono::duration<double>(gap * 0.25));
            }
            previous_start = start;

            StepRecord step;
            step.index = recorded.index;
            step.started_at = utc_timestamp();
            step.thought = recorded.thought;
            step.reflection = recorded.reflection;
            step.raw_response = recorded.raw_response;
            const auto t_capture = Clock::now();
            vision::Frame live = screen.capture();
            step.capture_ms = ms_since(t_capture);
            observer.on_screenshot(step.index, live);
            step.screenshot = session->write_screenshot(step.index, live);

            std::optional<vision::Frame> recorded_frame;
            if (options.verify != VerifyMode::off && !recorded.screenshot.empty())
                recorded_frame = vision::read_image(source.dir / recorded.screenshot);

            bool ended = false;
            for (std::size_t i = 0; i < recorded.actions.size() && !ended; ++i) {
                planner::Action action = planner::action_from_json(recorded.actions[i]);
                if (action.type == planner::ActionType::finished ||
                    action.type == planner::ActionType::call_user) {
                    step.actions.push_back(to_json(action));
                    step.results.push_back("skipped: " +
                                           std::string(planner::to_string(action.type)));
                    continue;
                }
                if (action.point && recorded_frame) {
                    // Wait for the recorded patch to appear near the target, then follow it.
                    const auto deadline = Clock::now() + options.verify_timeout;
                    std::optional<vision::PatchMatch> best;
                    while (true) {
                        if (control.stop_requested()) throw RunStatus::stopped;
                        const auto match =
                            vision::locate_patch(*recorded_frame, live, *action.point,
                                                 options.patch_size, options.search_radius);
                        if (match && (!best || match->score > best->score)) best = match;
                        const bool close =
                            match &&
                            std::abs(match->found.x - action.point->x) <= limits.max_shift &&
                            std::abs(match->found.y - action.point->y) <= limits.max_shift;
                        if (match && match->score >= limits.min_score && close) {
                            best = match;
                            break;
                        }
                        if (Clock::now() >= deadline) {
                            const int half = options.patch_size / 2;
                            const vision::Rect want{action.point->x - half, action.point->y - half,
                                                    options.patch_size, options.patch_size};
                            const vision::Rect got =
                                best ? vision::Rect{best->found.x - half, best->found.y - half,
                                                    options.patch_size, options.patch_size}
                                     : want;
                            result.mismatch_image =
                                session->dir() /
                                ("mismatch-step-" + std::to_string(step.index) + ".png");
                            vision::write_image(
                                vision::side_by_side(*recorded_frame, live, want, got),
                                result.mismatch_image);
                            char score[16];
                            std::snprintf(score, sizeof score, "%.2f", best ? best->score : 0.0);
                            throw Mismatch{
                                "step " + std::to_string(step.index) + ": the screen around (" +
                                std::to_string(action.point->x) + "," +
                                std::to_string(action.point->y) +
                                ") does not match the recording (best similarity " + score +
                                ", need " + std::to_string(limits.min_score).substr(0, 4) +
                                "); nothing was clicked. See " + result.mismatch_image.string()};
                        }
                        std::this_thread::sleep_for(std::chrono::milliseconds(100));
                        live = screen.capture();
                    }
                    const vision::Point shift{best->found.x - action.point->x,
                                              best->found.y - action.point->y};
                    if (shift.x != 0 || shift.y != 0) {
                        action.point = best->found;
                        if (action.end)
                            action.end =
                                vision::Point{action.end->x + shift.x, action.end->y + shift.y};
                        ++result.retargeted;
                        observer.on_warning("step " + std::to_string(step.index) +
                                            ": re-targeted by (" + std::to_string(shift.x) + "," +
                                            std::to_string(shift.y) + ")");
                    }
                }
                step.actions.push_back(to_json(action));
                step.approvals.push_back("replay");
                const auto t_act = Clock::now();
                {
                    std::lock_guard sending(control.action_mutex());
                    if (control.stop_requested()) throw RunStatus::stopped;
                    executor.execute(action);
                }
                step.act_ms += ms_since(t_act);
                step.results.push_back("ok");
                observer.on_action_executed(step.index, static_cast<int>(i), action, "ok");
                const auto t_settle = Clock::now();
                live = wait_until_settled(screen, options.settle, [&] {
                           return control.stop_requested();
                       }).last;
                step.settle_ms += ms_since(t_settle);
            }
            session->append_step(step);
            observer.on_step_recorded(step);
            ++result.steps_replayed;
            control.step_done();
        }
    } catch (RunStatus stopped) {
        status = stopped;
        message = "stopped by the user";
    } catch (const Mismatch& m) {
        status = RunStatus::error;
        message = m.message;
    } catch (const std::exception& e) {
        status = RunStatus::error;
        message = e.what();
    }
    result.status = status;
    result.message = message;
    if (status == RunStatus::error) observer.on_error(message);
    try {
        session->finish(std::string(to_string(status)), message);
    } catch (const std::exception& e) {
        observer.on_error(e.what());
    }
    observer.on_run_finished(status, message);
    return result;
}

}  // namespace deskpilot::agent
