// deskpilot models --endpoint URL [--api-key-env VAR] [--header 'Name: value'] [--model NAME]:
// lists the models an OpenAI-compatible endpoint serves, one per line; with --model, checks that
// the server offers that one.
#include <cstdio>

#include "cli/command_registry.h"
#include "model/remote/remote_vlm.h"

namespace deskpilot::cli {
namespace {

class ModelsCommand : public Command {
  public:
    std::string name() const override { return "models"; }

    void configure(CLI::App& app) override {
        app.add_option("--endpoint", endpoint_,
                       "Base URL of the OpenAI-compatible server, with or without /v1 "
                       "(e.g. http://localhost:8000/v1)")
            ->required();
        app.add_option(
            "--api-key-env", api_key_env_,
            "Name of the environment variable that holds the API key (sent as a Bearer token)");
        app.add_option("--header", headers_, "Extra request header 'Name: value' (repeatable)");
        app.add_option("--model", model_,
                       "Check that the server offers this model (exit 1 if not)");
        app.add_option("--timeout", timeout_s_, "Seconds to wait for the answer")
            ->check(CLI::Range(1, 3600));
        app.add_option("--retries", retries_, "Retries on connection errors, 429 and 5xx")
            ->check(CLI::Range(0, 20));
    }

    int run() override {
        model::RemoteConfig config;
        config.endpoint = endpoint_;
        config.api_key_env = api_key_env_;
        config.model = model_;
        config.overall_timeout = std::chrono::seconds(timeout_s_);
        config.connect_timeout = std::min(config.connect_timeout, config.overall_timeout);
        config.retry.max_retries = retries_;
        config.log = [](const std::string& line) {
            std::fprintf(stderr, "deskpilot models: %s\n", line.c_str());
        };
        try {
            for (const auto& h : headers_)
                config.headers.push_back(model::remote::parse_header_option(h));
            const model::RemoteVlm vlm(config);
            if (!model_.empty()) {
                if (vlm.check_model()) {
                    std::printf("%s\n", model_.c_str());
                } else {
                    std::fprintf(stderr,
                                 "deskpilot models: %s lists no models; cannot check '%s'\n",
                                 vlm.endpoint().display.c_str(), model_.c_str());
                }
                return kExitOk;
            }
            for (const auto& id : vlm.list_models()) std::printf("%s\n", id.c_str());
        } catch (const model::ModelError& e) {
            throw CommandError(e.what());
        }
        return kExitOk;
    }

  private:
    std::string endpoint_;
    std::string api_key_env_;
    std::vector<std::string> headers_;
    std::string model_;
    int timeout_s_ = 30;
    int retries_ = 3;
};

DESKPILOT_REGISTER_COMMAND(ModelsCommand);

}  // namespace
}  // namespace deskpilot::cli
