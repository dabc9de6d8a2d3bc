// deskpilot tokenize --tokenizer FILE [--decode]: text on stdin → ids as a JSON array, or with
// --decode a JSON array of ids on stdin → text. The text is taken byte for byte (a trailing
// newline from `echo` is part of it).
#include <cstdio>
#include <iostream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "cli/command_registry.h"
#include "model/engine/tokenizer.h"

namespace deskpilot::cli {
namespace {

using model::engine::TokenId;
using model::engine::Tokenizer;
using model::engine::TokenizerError;

class TokenizeCommand : public Command {
  public:
    std::string name() const override { return "tokenize"; }

    void configure(CLI::App& app) override {
        app.add_option("--tokenizer", path_, "tokenizer.json (Hugging Face format)")->required();
        app.add_flag("--decode", decode_, "Read a JSON array of ids and print the text");
        app.add_flag("--no-special", no_special_, "Treat special tokens in the text as plain text");
        app.add_flag("--skip-special", skip_special_, "With --decode: leave special tokens out");
    }

    int run() override {
        const std::string input((std::istreambuf_iterator<char>(std::cin)),
                                std::istreambuf_iterator<char>());
        try {
            const Tokenizer tok = Tokenizer::from_file(path_);
            if (decode_) {
                std::vector<TokenId> ids;
                try {
                    ids = nlohmann::json::parse(input).get<std::vector<TokenId>>();
                } catch (const nlohmann::json::exception&) {
                    throw CommandError(
                        "stdin: expected a JSON array of token ids, e.g. [9707, 11]");
                }
                const std::string text = tok.decode(ids, skip_special_);
                std::fwrite(text.data(), 1, text.size(), stdout);
            } else {
                const auto ids = tok.encode(input, !no_special_);
                std::printf("%s\n", nlohmann::json(ids).dump().c_str());
            }
        } catch (const TokenizerError& e) {
            throw CommandError(e.what());
        }
        return kExitOk;
    }

  private:
    std::string path_;
    bool decode_ = false;
    bool no_special_ = false;
    bool skip_special_ = false;
};

DESKPILOT_REGISTER_COMMAND(TokenizeCommand);

}  // namespace
}  // namespace deskpilot::cli
