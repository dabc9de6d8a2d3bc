// deskpilot parse --family F --screen WxH [--scale S]: one model response on stdin → the step as
// JSON on stdout, actions in physical screen pixels. A response the grammar rejects: the message
// on stderr, exit 3.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/command_registry.h"
#include "planner/parser.h"

namespace deskpilot::cli {
namespace {

constexpr int kExitParseError = 3;

vision::Size parse_screen(const std::string& text) {
    int w = 0, h = 0;
    char x = 0, extra = 0;
    if (std::sscanf(text.c_str(), "%d%c%d%c", &w, &x, &h, &extra) != 3 || (x != 'x' && x != 'X') ||
        w <= 0 || h <= 0)
        throw CommandError(
            "--screen must be WIDTHxHEIGHT with positive integers, e.g. 1920x1080, not '" + text +
                "'",
            kExitUsage);
    return {w, h};
}

class ParseCommand : public Command {
  public:
    std::string name() const override { return "parse"; }

    void configure(CLI::App& app) override {
        app.add_option("--family", family_, "Model family: " + planner::family_names())->required();
        app.add_option("--screen", screen_, "Screen size in logical pixels, WIDTHxHEIGHT")
            ->required();
        app.add_option("--scale", scale_, "Device pixel ratio (HiDPI): physical = logical x scale");
    }

    int run() override {
        const planner::ModelFamily* family = planner::find_family(family_);
        if (!family)
            throw CommandError(
                "unknown --family '" + family_ + "'; known: " + planner::family_names(),
                kExitUsage);
        const vision::Size screen = parse_screen(screen_);
        std::optional<planner::CoordinateMapper> mapper;
        try {
            mapper.emplace(*family, screen, scale_);
        } catch (const std::invalid_argument& e) {
            throw CommandError(std::string("--screen/--scale: ") + e.what(), kExitUsage);
        }
        const std::string response{std::istreambuf_iterator<char>(std::cin),
                                   std::istreambuf_iterator<char>()};
        planner::Step step;
        try {
            step = planner::parse_step(response, *mapper);
        } catch (const planner::ParseError& e) {
            throw CommandError(std::string("cannot parse the response on stdin: ") + e.what(),
                               kExitParseError);
        }
        for (const std::string& warning : step.warnings)
            std::fprintf(stderr, "deskpilot parse: warning: %s\n", warning.c_str());
        std::printf("%s\n", planner::to_json(step)
                                .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
                                .c_str());
        return kExitOk;
    }

  private:
    std::string family_;
    std::string screen_;
    double scale_ = 1.0;
};

DESKPILOT_REGISTER_COMMAND(ParseCommand);

}  // namespace
}  // namespace deskpilot::cli
