// The multi-step form task the scripted model plays (tests and the bundled demo session):
// type a name, pick a combo item, tick the checkbox, drag the slider, scroll the list,
// double-click an item, Ctrl+S, finished. Answers are UI-TARS-1.5 text computed from the
// sandbox's live layout and the size of the screenshot the model received.
#pragma once

#include "agent_fixture.h"

namespace deskpilot::testing {

inline bool event_is(const nlohmann::json& e, const std::string& event,
                     const std::string& widget = {}) {
    return e.value("event", "") == event && (widget.empty() || e.value("widget", "") == widget);
}

inline std::string click(AgentStack& s, const std::string& widget, vision::Size image,
                         const std::string& thought) {
    return "Thought: " + thought +
           "\nAction: click(start_box=" + box(s.center(widget), s.screen_size, image) + ")";
}

inline constexpr int kFormTaskSteps = 11;

inline ScriptedReply form_task_reply(AgentStack& s, const RecordedRequest& r) {
    const vision::Size image = data_url_image_size(r.image_urls().back());
    switch (assistant_turns(r)) {
        case 0:
            return ScriptedReply::answer(click(s, "name", image, "I click the name field."));
        case 1:
            return ScriptedReply::answer(
                "Thought: I type the name.\nAction: type(content='Ada Lovelace')");
        case 2:
            return ScriptedReply::answer(click(s, "combo", image, "I open the colour list."));
        case 3:
            return ScriptedReply::answer(
                "Thought: Move down one entry.\nAction: hotkey(key='down')");
        case 4:
            return ScriptedReply::answer("Thought: Choose it.\nAction: hotkey(key='enter')");
        case 5:
            return ScriptedReply::answer(click(s, "agree", image, "I tick the checkbox."));
        case 6: {
            const auto r6 = *s.sandbox->widget_rect("slider");
            const vision::Point from{r6.x + 6, r6.y + r6.height / 2},
                to{r6.x + r6.width * 8 / 10, r6.y + r6.height / 2};
            return ScriptedReply::answer(
                "Thought: I drag the slider to about 80%.\nAction: drag(start_box=" +
                box(from, s.screen_size, image) + ", end_box=" + box(to, s.screen_size, image) +
                ")");
        }
        case 7:
            return ScriptedReply::answer(
                "Thought: I scroll the list down.\nAction: scroll(start_box=" +
                box(s.center("list"), s.screen_size, image) + ", direction='down')");
        case 8:
            // The first item the scroll brought into view.
            for (const auto& w : s.sandbox->widgets())
                if (w.value("role", "") == "list_item" && w.value("visible", false) &&
                    w.value("index", 0) >= 10) {
                    const auto& b = w.at("rect");
                    const vision::Point p{b[0].get<int>() + b[2].get<int>() / 2,
                                          b[1].get<int>() + b[3].get<int>() / 2};
                    return ScriptedReply::answer(
                        "Thought: I open " + w.value("label", std::string()) +
                        ".\nAction: left_double(start_box=" + box(p, s.screen_size, image) + ")");
                }
            return ScriptedReply::answer(
                "Thought: The list did not scroll.\nAction: finished(content='failed')");
        case 9:
            return ScriptedReply::answer(
                "Thought: I save with the shortcut.\nAction: hotkey(key='ctrl s')");
        default:
            return ScriptedReply::answer(
                "Thought: All done.\nAction: finished(content='Form filled and saved')");
    }
}

// Empty when the sandbox's state shows the whole task done; otherwise what is missing.
inline std::string form_task_done(const agent::SandboxProcess& sandbox) {
    const auto events = sandbox.events();
    auto has = [&](const std::function<bool(const nlohmann::json&)>& match) {
        return std::any_of(events.begin(), events.end(), match);
    };
    using nlohmann::json;
    std::string missing;
    if (!has([](const json& e) {
            return event_is(e, "text", "name") && e["value"] == "Ada Lovelace";
        }))
        missing += "name; ";
    if (!has([](const json& e) { return event_is(e, "combo") && e["index"] == 1; }))
        missing += "combo; ";
    if (!has([](const json& e) { return event_is(e, "checked", "agree") && e["value"] == true; }))
        missing += "checkbox; ";
    if (!has([](const json& e) { return event_is(e, "slider") && e["value"].get<int>() >= 70; }))
        missing += "slider; ";
    if (!has([](const json& e) {
            return event_is(e, "scroll", "list") && e["value"].get<int>() > 0;
        }))
        missing += "scroll; ";
    if (!has([](const json& e) {
            return event_is(e, "opened", "list") && e["item"].get<int>() >= 10;
        }))
        missing += "opened; ";
    if (!has([](const json& e) { return event_is(e, "shortcut") && e["seq"] == "Ctrl+S"; }))
        missing += "ctrl+s; ";
    return missing;
}

}  // namespace deskpilot::testing
