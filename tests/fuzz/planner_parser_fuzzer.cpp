// libFuzzer target for the planner's response grammar and coordinate mapping. Built with
// clang -fsanitize=fuzzer,address,undefined by tools/fuzz/build-planner-fuzzer.sh; the same file,
// built with the normal compiler, replays the kept corpus in test_planner_fuzz_corpus.
//
// Input: byte 0 picks the family, bytes 1-4 the screen size; the rest is the model response.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "planner/parser.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace deskpilot;
    if (size < 5) return 0;
    const auto families = planner::all_families();
    const planner::ModelFamily& family = families[data[0] % families.size()];
    const int width = 100 + (data[1] | (data[2] << 8)) % 4000;
    const int height = 100 + (data[3] | (data[4] << 8)) % 3000;
    const double scale = (data[0] & 0x80) ? 1.5 : 1.0;
    const planner::CoordinateMapper mapper(family, {width, height}, scale);
    const std::string_view response(reinterpret_cast<const char*>(data + 5), size - 5);
    // One Step reused across every input of the run, as a high-throughput caller keeps it: parsing
    // into it must equal a fresh parse (nothing of the previous input left), or be empty after the
    // same error.
    static planner::Step reused;
    std::string reused_error;
    try {
        planner::parse_step_into(response, mapper, reused);
    } catch (const planner::ParseError& e) {
        reused_error = e.what();
        if (!(reused == planner::Step{})) __builtin_trap();
    }
    try {
        const planner::Step step = planner::parse_step(response, mapper);
        if (!reused_error.empty() || !(step == reused)) __builtin_trap();
        // What the agent does next with a step must work too: its JSON form.
        const std::string json =
            planner::to_json(step).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        if (json.empty()) __builtin_trap();
        for (const planner::Action& action : step.actions) {
            const planner::ActionShape shape = planner::shape_of(action.type);
            // The parser must fill every field the action's type requires.
            if (shape.point && !action.point) __builtin_trap();
            if (shape.end_point && !action.end) __builtin_trap();
            if (shape.keys && action.keys.empty()) __builtin_trap();
            if (shape.direction && action.direction.empty()) __builtin_trap();
        }
    } catch (const planner::ParseError& e) {
        // Rejected input is the expected outcome for most of the fuzzer's inputs.
        if (reused_error != e.what()) __builtin_trap();
    }
    return 0;
}
