// deskpilot report DIR [-o report.html]: a self-contained, offline HTML report of a session.
#include <cstdio>

#include "agent/report.h"
#include "cli/command_registry.h"

namespace deskpilot::cli {
namespace {

class ReportCommand : public Command {
  public:
    std::string name() const override { return "report"; }

    void configure(CLI::App& app) override {
        app.add_option("session", dir_, "Session folder")->required();
        app.add_option("-o,--output", output_, "HTML file to write (default: SESSION/report.html)");
    }

    int run() override {
        const agent::LoadedSession session = agent::load_session(dir_);
        for (const auto& warning : session.warnings)
            std::fprintf(stderr, "deskpilot report: warning: %s\n", warning.c_str());
        const std::filesystem::path output = output_.empty()
                                                 ? std::filesystem::path(dir_) / "report.html"
                                                 : std::filesystem::path(output_);
        agent::write_report(session, output);
        std::printf("%s\n", output.c_str());
        return kExitOk;
    }

  private:
    std::string dir_;
    std::string output_;
};

DESKPILOT_REGISTER_COMMAND(ReportCommand);

}  // namespace
}  // namespace deskpilot::cli
