// record_demo_session DIR: records the form task (scripted model, private Xvfb, sandbox without
// a seed at 1280x800) into DIR. Its output is the session bundled under tests/data/sessions/
// for the demo and the replay tests; rerun it when the sandbox's look changes.
#include <cstdio>

#include "form_task.h"

int main(int argc, char** argv) {
    using namespace deskpilot::testing;
    if (argc != 2) {
        std::fprintf(stderr, "usage: record_demo_session DIR\n");
        return 2;
    }
    AgentStack s;
    s.server->set_handler([&](const RecordedRequest& r) { return form_task_reply(s, r); });
    auto config = s.config(
        "Fill in the form: name Ada Lovelace, colour Green, tick the box, volume 80%, open an "
        "item, save");
    config.session_dir = argv[1];
    AgentRun run(s, config);
    const auto result = run.join();
    const std::string missing = form_task_done(*s.sandbox);
    std::printf("%s: %s (%d steps)%s%s\n", argv[1],
                std::string(deskpilot::agent::to_string(result.status)).c_str(), result.steps,
                missing.empty() ? "" : "; missing: ", missing.c_str());
    return result.status == deskpilot::agent::RunStatus::finished && missing.empty() ? 0 : 1;
}
