// deskpilot eval's --jobs: the grounding suite on the same seeds with 1 job and with J jobs (each
// its own private Xvfb + sandbox), against the loopback scripted model answering at once and
// after a fixed model latency. Prints wall times and the speed-up ratio, measured in one run.
//
//   bench_eval [SEEDS=8] [JOBS=4] [LATENCY_MS=200]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "agent/eval/runner.h"
#include "model/remote/remote_vlm.h"
#include "openai_server.h"

using namespace deskpilot;

namespace {

double run(testing::OpenAiServer& server, int seeds, int jobs) {
    agent::eval::EvalOptions o;
    o.model_name = "fixed";
    for (int s = 0; s < seeds; ++s) o.seeds.push_back(static_cast<unsigned>(s));
    o.jobs = jobs;
    o.out_dir = std::filesystem::temp_directory_path() /
                ("deskpilot-bench-eval-" + std::to_string(::getpid()));
    const std::string url = server.base_url();
    o.make_model = [url](int) {
        return std::make_unique<model::RemoteVlm>(
            model::RemoteConfig{.endpoint = url, .model = "m"});
    };
    const auto start = std::chrono::steady_clock::now();
    const auto results = agent::eval::run_grounding(o);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::filesystem::remove_all(o.out_dir);
    if (results["summary"]["overall"]["targets"].get<int>() == 0)
        throw std::runtime_error("no targets were asked");
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    const int seeds = argc > 1 ? std::atoi(argv[1]) : 8;
    const int jobs = argc > 2 ? std::atoi(argv[2]) : 4;
    const int latency = argc > 3 ? std::atoi(argv[3]) : 200;
    if (seeds < 1 || jobs < 1 || latency < 0) {
        std::fprintf(stderr, "usage: bench_eval [SEEDS>=1] [JOBS>=1] [LATENCY_MS>=0]\n");
        return 2;
    }
    try {
        testing::OpenAiServer server;
        for (int delay : {0, latency}) {
            auto reply = testing::ScriptedReply::answer(
                "Action: click(start_box='<|box_start|>(640,400)<|box_end|>')");
            reply.delay = std::chrono::milliseconds(delay);
            server.set_default(reply);
            const double one = run(server, seeds, 1);
            const double many = run(server, seeds, jobs);
            std::printf(
                "grounding, %d screens, model latency %4d ms: 1 job %6.2f s, %d jobs %6.2f s, "
                "speed-up %.2fx\n",
                seeds, delay, one, jobs, many, one / many);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_eval: %s\n", e.what());
        return 1;
    }
    return 0;
}
