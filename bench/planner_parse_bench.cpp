// Parse throughput of Deskpilot's planner on a file of model responses (a JSON list of
// strings, written by bench/planner_parse_vs_python.py). Prints one JSON line:
//   {"responses":1000,"passes":…,"responses_per_second":… (parse_step, best batch),
//    "mean_responses_per_second":…, "reused_responses_per_second":… (parse_step_into a reused
//    Step, best batch), "reused_mean_responses_per_second":…,"failures_per_pass":…}
// The Python baseline is timed on the same file by the script, in the same run.
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "planner/parser.h"

int main(int argc, char** argv) {
    using namespace deskpilot;
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s RESPONSES.json [family] [WxH]\n", argv[0]);
        return 2;
    }
    std::ifstream in(argv[1]);
    if (!in) {
        std::fprintf(stderr, "%s: cannot read %s\n", argv[0], argv[1]);
        return 1;
    }
    std::vector<std::string> responses;
    try {
        responses = nlohmann::json::parse(std::string(std::istreambuf_iterator<char>(in), {}))
                        .get<std::vector<std::string>>();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s is not a JSON list of strings: %s\n", argv[0], argv[1],
                     e.what());
        return 1;
    }
    const planner::ModelFamily* family = planner::find_family(argc > 2 ? argv[2] : "ui-tars-1.5");
    int w = 1920, h = 1080;
    if (argc > 3 && std::sscanf(argv[3], "%dx%d", &w, &h) != 2) return 2;
    if (!family || responses.empty()) return 2;
    const planner::CoordinateMapper mapper(*family, {w, h});

    // Two ways to call the parser, timed in alternating batches so both see the same load:
    //   fresh   planner::parse_step, a new Step per response (built and destroyed each time);
    //   reused  planner::parse_step_into, one Step kept across responses (its buffers reused).
    std::size_t failures[2] = {0, 0}, actions[2] = {0, 0};
    planner::Step reused;
    auto pass = [&](int mode) {
        for (const std::string& r : responses) {
            try {
                if (mode == 0) {
                    actions[0] += planner::parse_step(r, mapper).actions.size();
                } else {
                    planner::parse_step_into(r, mapper, reused);
                    actions[1] += reused.actions.size();
                }
            } catch (const planner::ParseError&) {
                ++failures[mode];
            }
        }
    };
    // CPU time of this process, not wall time: the machine is shared, and the Python baseline is
    // measured the same way (time.process_time), so the ratio depends less on the load.
    auto cpu_seconds = [] {
        timespec ts{};
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
    };
    pass(0);  // warm up
    pass(1);
    if (failures[0] != failures[1] || actions[0] != actions[1]) {
        std::fprintf(stderr, "%s: parse_step and parse_step_into disagree\n", argv[0]);
        return 1;
    }
    // Five batches of at least 0.2 s per mode, alternating; the best batch of each is reported,
    // like the Python side's best pass (on a loaded machine the fastest run is the least
    // disturbed one).
    constexpr int kBatches = 5;
    double best[2] = {0, 0}, total_seconds[2] = {0, 0};
    long total_passes[2] = {0, 0};
    for (int batch = 0; batch < 2 * kBatches; ++batch) {
        const int mode = batch % 2;
        const double start = cpu_seconds();
        int passes = 0;
        double elapsed = 0;
        do {
            pass(mode);
            ++passes;
            elapsed = cpu_seconds() - start;
        } while (elapsed < 0.2);
        const double rate = static_cast<double>(responses.size()) * passes / elapsed;
        if (rate > best[mode]) best[mode] = rate;
        total_seconds[mode] += elapsed;
        total_passes[mode] += passes;
    }
    const double n = static_cast<double>(responses.size());
    std::printf(
        "{\"responses\":%zu,\"passes\":%ld,\"responses_per_second\":%.1f,"
        "\"mean_responses_per_second\":%.1f,\"reused_responses_per_second\":%.1f,"
        "\"reused_mean_responses_per_second\":%.1f,\"failures_per_pass\":%zu}\n",
        responses.size(), total_passes[0], best[0], n * total_passes[0] / total_seconds[0], best[1],
        n * total_passes[1] / total_seconds[1],
        failures[0] / static_cast<std::size_t>(total_passes[0] + 1));
    return 0;
}
