#include "agent/eval/task_set.h"

#include <fstream>
#include <set>

namespace deskpilot::agent::eval {
namespace {

const std::set<std::string> kPointerSteps = {"click", "double_click", "right_click", "scroll"};
const std::set<std::string> kPlanSteps = {"click",  "double_click", "right_click",
                                          "scroll", "type",         "hotkey"};

void check_plan_step(const nlohmann::json& step, const std::string& where) {
    if (!step.is_object() || step.empty())
        throw EvalError(where + ": a plan step must be an object like {\"click\": \"save\"}");
    std::string kind;
    for (auto it = step.begin(); it != step.end(); ++it)
        if (kPlanSteps.count(it.key())) {
            if (!kind.empty())
                throw EvalError(where + ": a plan step has two actions, '" + kind + "' and '" +
                                it.key() + "'");
            kind = it.key();
        } else if (it.key() != "direction") {
            throw EvalError(where + ": unknown plan action '" + it.key() + "'");
        }
    if (kind.empty()) throw EvalError(where + ": a plan step names no action");
    if (!step.at(kind).is_string()) throw EvalError(where + ": '" + kind + "' must be a string");
    if (kind == "scroll" && !step.contains("direction"))
        throw EvalError(where + ": 'scroll' needs a \"direction\"");
}

}  // namespace

std::vector<EvalTask> parse_tasks(const nlohmann::json& json, const std::string& source) {
    if (!json.is_object() || !json.contains("tasks") || !json.at("tasks").is_array())
        throw EvalError(source + ": expected an object with a \"tasks\" array");
    std::vector<EvalTask> tasks;
    std::set<std::string> ids;
    int index = 0;
    for (const auto& t : json.at("tasks")) {
        std::string where = source + ": task " + std::to_string(index++);
        if (!t.is_object()) throw EvalError(where + ": not an object");
        EvalTask task;
        try {
            task.id = t.at("id").get<std::string>();
            where += " ('" + task.id + "')";
            task.text = t.at("text").get<std::string>();
            const auto seed = t.at("seed").get<long long>();
            if (seed < 0 || seed > 0xFFFFFFFFll)
                throw EvalError(where + ": 'seed' must be a non-negative 32-bit integer");
            task.seed = static_cast<unsigned>(seed);
            task.max_steps = t.value("max_steps", 10);
            task.success = t.at("success");
            task.plan = t.value("plan", nlohmann::json::array());
        } catch (const nlohmann::json::exception& e) {
            throw EvalError(where + ": " + e.what());
        }
        if (task.id.empty() || !ids.insert(task.id).second)
            throw EvalError(where + ": 'id' is empty or used twice");
        if (task.max_steps < 1) throw EvalError(where + ": 'max_steps' must be at least 1");
        if (!task.success.is_array() || task.success.empty())
            throw EvalError(where + ": 'success' must be a non-empty array of conditions");
        for (const auto& c : task.success)
            if (!c.is_object() || !c.contains("event"))
                throw EvalError(where + ": each 'success' condition needs an \"event\"");
        if (!task.plan.is_array()) throw EvalError(where + ": 'plan' must be an array");
        for (const auto& step : task.plan) check_plan_step(step, where);
        tasks.push_back(std::move(task));
    }
    if (tasks.empty()) throw EvalError(source + ": the \"tasks\" array is empty");
    return tasks;
}

std::vector<EvalTask> load_tasks(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) throw EvalError("tasks file '" + path.string() + "': cannot be read");
    nlohmann::json json;
    try {
        json = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw EvalError("tasks file '" + path.string() + "': not valid JSON: " + e.what());
    }
    return parse_tasks(json, "tasks file '" + path.string() + "'");
}

std::string render_task_text(const EvalTask& task, const nlohmann::json& widgets) {
    std::string out;
    const std::string& text = task.text;
    std::size_t pos = 0;
    while (true) {
        const auto open = text.find("{label:", pos);
        if (open == std::string::npos) break;
        const auto close = text.find('}', open);
        if (close == std::string::npos)
            throw EvalError("task '" + task.id + "': unclosed {label:...} in its text");
        const std::string name = text.substr(open + 7, close - open - 7);
        std::string label;
        bool found = false;
        for (const auto& w : widgets)
            if (w.value("name", std::string()) == name) {
                label = w.value("label", std::string());
                found = true;
                break;
            }
        if (!found)
            throw EvalError("task '" + task.id + "': the sandbox has no widget '" + name +
                            "' for {label:" + name + "}");
        out += text.substr(pos, open - pos) + label;
        pos = close + 1;
    }
    return out + text.substr(pos);
}

bool condition_holds(const nlohmann::json& condition, const nlohmann::json& event) {
    for (auto it = condition.begin(); it != condition.end(); ++it) {
        if (!event.contains(it.key())) return false;
        const auto& have = event.at(it.key());
        const auto& want = it.value();
        if (want.is_object() && want.contains(">=")) {
            if (!have.is_number() || have.get<double>() < want.at(">=").get<double>()) return false;
        } else if (have != want) {
            return false;
        }
    }
    return true;
}

std::string unmet_conditions(const EvalTask& task, const std::vector<nlohmann::json>& events) {
    std::string unmet;
    for (const auto& c : task.success) {
        bool held = false;
        for (const auto& e : events)
            if (condition_holds(c, e)) {
                held = true;
                break;
            }
        if (!held) unmet += (unmet.empty() ? "" : "; ") + c.dump();
    }
    return unmet;
}

bool plan_uses_pointer(const EvalTask& task) {
    for (const auto& step : task.plan)
        for (auto it = step.begin(); it != step.end(); ++it)
            if (kPointerSteps.count(it.key())) return true;
    return false;
}

}  // namespace deskpilot::agent::eval
