#include "agent/agent_loop.h"

#include <future>
#include <stdexcept>

#include "agent/action_executor.h"
#include "agent/second_look.h"
#include "agent/timing.h"
#include "planner/conversation.h"
#include "planner/parser.h"

namespace deskpilot::agent {

namespace {

// A run ends with a status and a message; thrown inside the loop, caught in run().
struct RunEnd {
    RunStatus status;
    std::string message;
};

}  // namespace

struct Agent::Impl {
    AgentConfig config;
    vision::ScreenSource& screen;
    model::Vlm& model;
    actuators::Actuator& actuator;
    RunControl& control;
    AgentObserver& observer;
    // The family as the model sees the screen (with the backend's pixel cap, if any); the
    // conversation and the coordinate mapping both use it.
    planner::ModelFamily family;
    ActionExecutor executor;
    std::unique_ptr<planner::Conversation> history;
    LoopDetector loop_detector;
    std::unique_ptr<SessionWriter> session;
    int consecutive_errors = 0;
    std::vector<std::future<void>> preparing;  // prepare_image calls started while settling

    Impl(AgentConfig c, vision::ScreenSource& s, model::Vlm& m, actuators::Actuator& a,
         RunControl& rc, AgentObserver& o)
        : config(std::move(c)),
          screen(s),
          model(m),
          actuator(a),
          control(rc),
          observer(o),
          executor(a),
          loop_detector(config.loop_limit) {
        const planner::ModelFamily* named = planner::find_family(config.family);
        if (!named)
            throw std::invalid_argument("unknown model family '" + config.family +
                                        "' (known: " + planner::family_names() + ")");
        if (config.max_pixels < 0) throw std::invalid_argument("--max-pixels must not be negative");
        family = planner::with_pixel_cap(model.family_as_seen(*named), config.max_pixels);
        if (config.max_steps < 1) throw std::invalid_argument("--max-steps must be at least 1");
        if (config.history < 1) throw std::invalid_argument("--history must be at least 1");
        planner::ConversationOptions conversation;
        conversation.max_screenshots = static_cast<std::size_t>(config.history);
        conversation.prompt.language = config.language == "zh" ? planner::PromptLanguage::chinese
                                                               : planner::PromptLanguage::english;
        history = std::make_unique<planner::Conversation>(family, config.task, conversation);
        if (config.session_dir.empty()) throw std::invalid_argument("no session folder given");
    }

    // The second look at a click (agent/second_look.h): the step with its point moved where the
    // second answer points, or unchanged (with a warning) when that answer gives no point; the
    // step's record keeps both. A model error or a stop during it ends the run, as in the first.
    planner::Step look_again_at(const planner::Step& step, const planner::Request& request,
                                const vision::Frame& frame, StepRecord& record) {
        SecondLook look;
        try {
            look = look_again(model, request, frame, step, family, config.generate,
                              control.cancel_token());
        } catch (const model::ModelError& e) {
            record.results.push_back(std::string("model error (second look): ") + e.what());
            throw RunEnd{RunStatus::error, e.what()};
        }
        record.model_ms += look.model_ms;
        check_stop();
        const vision::Point first = *step.actions.front().point;
        record.second_look = {
            {"region", {look.region.x, look.region.y, look.region.width, look.region.height}},
            {"response", look.response},
            {"first_point", {first.x, first.y}}};
        if (look.point) {
            record.second_look["point"] = {look.point->x, look.point->y};
        } else {
            record.second_look["error"] = look.error;
            observer.on_warning("step " + std::to_string(record.index) + ": " + look.error +
                                "; clicking the first look's point");
        }
        return with_second_look(step, look);
    }

    void check_stop() const {
        if (control.stop_requested()) throw RunEnd{RunStatus::stopped, "stopped by the user"};
    }

    // A parse or validation error: the model gets one correction turn quoting it; too many in
    // a row end the run.
    void model_mistake(StepRecord& record, const std::string& error) {
        record.results.push_back("error: " + error);
        observer.on_warning("step " + std::to_string(record.index) + ": " + error);
        if (++consecutive_errors >= config.max_consecutive_errors)
            throw RunEnd{RunStatus::error,
                         std::to_string(consecutive_errors) +
                             " unusable model responses in a row; the last: " + error};
        history->add_user("Your previous answer could not be used: " + error +
                          "\nAnswer again in the required format: Thought: ... then Action: ...");
    }

    // Runs the step's actions; returns true when the step ended the run normally (finished).
    void act(int step_index, const planner::Step& step, StepRecord& record, vision::Frame& before) {
        for (std::size_t i = 0; i < step.actions.size(); ++i) {
            planner::Action action = step.actions[i];
            check_stop();
            if (action.type == planner::ActionType::finished) {
                record.approvals.push_back("auto");
                record.results.push_back("finished");
                throw RunEnd{RunStatus::finished, action.text};
            }
            if (action.type == planner::ActionType::call_user) {
                record.approvals.push_back("auto");
                observer.on_call_user(step_index, action.text.empty() ? step.thought : action.text);
                observer.on_paused();
                const auto reply = control.wait_for_reply();
                if (!reply)
                    throw RunEnd{RunStatus::call_user,
                                 "the model asked for help and no reply came: " + action.text};
                observer.on_resumed();
                record.results.push_back("user replied: " + *reply);
                history->add_user(*reply);
                continue;
            }

            const PolicyDecision decision = evaluate(config.policy, action);
            if (decision.kind == PolicyDecision::Kind::deny) {
                record.approvals.push_back("denied");
                record.results.push_back("denied: " + decision.reason);
                observer.on_warning("step " + std::to_string(step_index) +
                                    ": denied: " + decision.reason);
                history->add_user("That action was not allowed: " + decision.reason +
                                  ". Choose another way.");
                return;
            }
            if (decision.kind == PolicyDecision::Kind::needs_approval) {
                observer.on_action_pending(
                    {step_index, static_cast<int>(i), action, decision.reason});
                const auto answer = control.wait_for_decision();
                if (!answer) throw RunEnd{RunStatus::stopped, "stopped by the user"};
                if (answer->kind == ApprovalDecision::Kind::reject) {
                    record.approvals.push_back("rejected");
                    record.results.push_back("rejected: " + answer->feedback);
                    history->add_user(answer->feedback.empty() ? "The user rejected that action."
                                                               : answer->feedback);
                    return;
                }
                if (answer->kind == ApprovalDecision::Kind::edit) {
                    action = answer->edited;
                    record.actions[i] = to_json(action);
                    record.approvals.push_back("edited");
                } else {
                    record.approvals.push_back("approved");
                }
            } else {
                record.approvals.push_back("auto");
            }

            if (action.type == planner::ActionType::wait) {
                const auto seen =
                    wait_for_change(screen, before, config.wait_timeout, config.settle.threshold,
                                    [&] { return control.stop_requested(); });
                record.results.push_back(seen.settled ? "ok: the screen changed" : "ok: no change");
                before = seen.last;
                observer.on_action_executed(step_index, static_cast<int>(i), action,
                                            record.results.back());
                continue;
            }

            const auto t_act = Clock::now();
            try {
                executor.validate(action);
                std::lock_guard sending(control.action_mutex());
                check_stop();  // no action after stop() returned
                executor.execute(action);
            } catch (const RunEnd&) {
                throw;
            } catch (const std::exception& e) {
                record.act_ms += ms_since(t_act);
                model_mistake(record, e.what());
                return;
            }
            record.act_ms += ms_since(t_act);
            record.results.push_back("ok");
            observer.on_action_executed(step_index, static_cast<int>(i), action, "ok");

            const auto t_settle = Clock::now();
            // The screen that starts the final quiet period is the next screenshot; the model
            // backend prepares it (resize, encode) while the quiet period is being confirmed.
            const auto settled = wait_until_settled(
                screen, config.settle, [&] { return control.stop_requested(); },
                [&](const vision::Frame& candidate) {
                    if (!config.prepare_screenshots) return;
                    preparing.push_back(std::async(std::launch::async, [this, candidate] {
                        model.prepare_image(candidate, config.family);
                    }));
                });
            record.settle_ms += ms_since(t_settle);
            const bool changed =
                vision::changed_fraction(before, settled.last) > config.settle.threshold;
            before = settled.settled ? settled.quiet_frame : settled.last;
            if (const auto loop = loop_detector.observe(action, changed))
                throw RunEnd{RunStatus::error, *loop};
        }
    }

    RunResult run() {
        RunResult result;
        result.session_dir = config.session_dir;
        int step_index = 0;
        try {
            Manifest manifest = config.manifest;
            manifest.task = config.task;
            manifest.family = config.family;
            manifest.scale = config.scale;
            manifest.screen = screen.screen_size();
            session = std::make_unique<SessionWriter>(config.session_dir, manifest);
            observer.on_run_started(session->manifest(), session->dir());
        } catch (const std::exception& e) {
            result.message = e.what();
            observer.on_error(result.message);
            observer.on_run_finished(RunStatus::error, result.message);
            return result;
        }

        RunEnd end{RunStatus::error, ""};
        try {
            vision::Frame frame;
            while (true) {
                check_stop();
                if (!control.wait_until_runnable()) check_stop();
                if (step_index >= config.max_steps)
                    throw RunEnd{
                        RunStatus::max_steps,
                        "reached the limit of " + std::to_string(config.max_steps) + " steps"};
                ++step_index;
                StepRecord record;
                record.index = step_index;
                record.started_at = utc_timestamp();

                const auto t_capture = Clock::now();
                if (frame.empty()) frame = screen.capture();
                record.capture_ms = ms_since(t_capture);
                observer.on_screenshot(step_index, frame);
                // The PNG is written while the model thinks; it is on disk before the step's line.
                auto screenshot = std::async(std::launch::async, [this, step_index, frame] {
                    return session->write_screenshot(step_index, frame);
                });
                const auto shared_frame = std::make_shared<const vision::Frame>(frame);
                history->add_screenshot(shared_frame);

                // Every way out of this step records it first: the screenshot is joined and
                // the line appended, so the session holds the step that ended the run.
                bool recorded = false;
                auto record_step = [&] {
                    if (recorded) return;
                    recorded = true;
                    record.screenshot = screenshot.get();
                    session->append_step(record);
                    observer.on_step_recorded(record);
                };
                vision::Frame before = frame;
                try {
                    for (auto& job : preparing)
                        job.wait();  // the screenshot's encoding, if started
                    preparing.clear();
                    const auto t_model = Clock::now();
                    model::Response response;
                    const planner::Request request = history->build();
                    try {
                        response = model.generate(
                            request, config.generate,
                            [&](std::string_view chunk) {
                                observer.on_model_text(step_index, chunk);
                            },
                            control.cancel_token());
                    } catch (const model::ModelError& e) {
                        record.model_ms = ms_since(t_model);
                        record.results.push_back(std::string("model error: ") + e.what());
                        throw RunEnd{RunStatus::error, e.what()};
                    }
                    record.model_ms = ms_since(t_model);
                    record.raw_response = response.text;
                    record.prompt_tokens = response.prompt_tokens;
                    record.completion_tokens = response.completion_tokens;
                    if (response.finish_reason == "cancelled" || control.stop_requested())
                        throw RunEnd{RunStatus::stopped, "stopped by the user"};
                    history->add_assistant(response.text);

                    std::optional<planner::Step> step;
                    try {
                        step = planner::parse_step(
                            response.text, planner::CoordinateMapper(family, frame.size(), 1.0));
                    } catch (const planner::ParseError& e) {
                        model_mistake(record, e.what());
                    }
                    if (step && config.second_look && wants_second_look(*step))
                        step = look_again_at(*step, request, frame, record);
                    if (step) {
                        record.thought = step->thought;
                        record.reflection = step->reflection;
                        for (const auto& a : step->actions) record.actions.push_back(to_json(a));
                        for (const auto& w : step->warnings)
                            observer.on_warning("step " + std::to_string(step_index) + ": " + w);
                        observer.on_step_parsed(step_index, *step);
                        consecutive_errors = 0;
                        act(step_index, *step, record, before);
                    }
                } catch (const RunEnd&) {
                    record_step();
                    throw;
                }
                record_step();
                // The settled screen is the next step's screenshot; a step that acted on nothing
                // (a parse error, a denied or rejected action) leaves no newer frame: capture anew.
                frame = before.pixels != frame.pixels ? before : vision::Frame{};
                control.step_done();
                if (control.paused()) observer.on_paused();
            }
        } catch (const RunEnd& e) {
            end = e;
        } catch (const std::exception& e) {
            end = {RunStatus::error, e.what()};
        }
        result.status = end.status;
        result.message = end.message;
        result.steps = step_index;
        if (end.status == RunStatus::error) observer.on_error(end.message);
        try {
            session->finish(std::string(to_string(end.status)), end.message);
        } catch (const std::exception& e) {
            observer.on_error(e.what());
        }
        observer.on_run_finished(end.status, end.message);
        return result;
    }
};

Agent::Agent(AgentConfig config, vision::ScreenSource& screen, model::Vlm& model,
             actuators::Actuator& actuator, RunControl& control, AgentObserver& observer)
    : impl_(std::make_unique<Impl>(std::move(config), screen, model, actuator, control, observer)) {
}

Agent::~Agent() = default;

RunResult Agent::run() {
    return impl_->run();
}

}  // namespace deskpilot::agent
