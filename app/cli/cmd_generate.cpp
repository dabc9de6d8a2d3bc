// deskpilot generate --model-dir DIR (--prompt TEXT | --ids N,N,…) [--max-new-tokens N]
//   [--temperature T] [--top-p P] [--seed S] [--logits-out FILE.npy] [--threads N]
//   [--device cpu|cuda]
// deskpilot generate --model-dir DIR --image PNG --prompt TEXT [--max-pixels N] [...]
// Runs the native engine (CPU, or the CUDA decoder with --device cuda) on a text prompt: streams
// the generated text (or ids, when the folder has no tokenizer.json) to stdout, and prefill/decode
// speed and peak memory to stderr.
// --logits-out writes the last prompt position's logits as a float32 .npy (with --image too).
// With --image, the prompt is one user turn (the image, then the text) in the model's chat
// layout, run by model::NativeVlm exactly as the agent would (the vision tower and the decoder
// where --device says); a second stderr line, one JSON
// object, breaks the time to first token down (preprocess_ms, vision_ms, prefill_ms) and gives
// the decode time of the tokens after the first, for tools/bench/vlm_vs_llama_cpp.sh.
#include <sys/resource.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "actuators/key_names.h"
#include "cli/action_grammar_option.h"
#include "cli/command_registry.h"
#include "cli/coordinate_window_option.h"
#include "cli/gpu_option.h"
#include "model/engine/arch/qwen3_vl_moe.h"
#include "model/engine/cpu/linear.h"
#include "model/engine/cuda/text_model.h"
#include "model/engine/generator.h"
#include "model/engine/native_vlm.h"
#include "model/engine/tokenizer.h"
#include "vision/image_io.h"

namespace deskpilot::cli {
namespace {

namespace engine = model::engine;

std::vector<std::int32_t> parse_ids(const std::string& text) {
    std::vector<std::int32_t> ids;
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) {
        try {
            std::size_t used = 0;
            const long v = std::stol(item, &used);
            if (used != item.size() || v < 0 || v > INT32_MAX) throw std::invalid_argument(item);
            ids.push_back(std::int32_t(v));
        } catch (const std::exception&) {
            throw CommandError("--ids: '" + item + "' is not a token id (expected N,N,…)",
                               kExitUsage);
        }
    }
    if (ids.empty()) throw CommandError("--ids: no token ids given", kExitUsage);
    return ids;
}

void write_npy(const std::string& path, const std::vector<float>& v) {
    std::string header =
        "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(v.size()) + ",), }";
    const std::size_t total = 10 + header.size() + 1;
    header.append((64 - total % 64) % 64, ' ');
    header += '\n';
    std::ofstream out(path, std::ios::binary);
    if (!out) throw CommandError(path + ": cannot write");
    out.write("\x93NUMPY\x01\x00", 8);
    const std::uint16_t len = std::uint16_t(header.size());
    out.put(char(len & 0xff)).put(char(len >> 8));
    out.write(header.data(), std::streamsize(header.size()));
    out.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(float)));
    if (!out) throw CommandError(path + ": write failed");
}

class GenerateCommand : public Command {
  public:
    std::string name() const override { return "generate"; }

    void configure(CLI::App& app) override {
        app.add_option("--model-dir", dir_,
                       "Checkpoint folder (config.json, *.safetensors, tokenizer.json)")
            ->required();
        auto* prompt =
            app.add_option("--prompt", prompt_, "Prompt text (needs tokenizer.json in the folder)");
        auto* ids = app.add_option("--ids", ids_, "Prompt as token ids, e.g. 9707,11,1879");
        prompt->excludes(ids);
        app.add_option("--max-new-tokens", max_new_, "Tokens to generate")
            ->check(CLI::Range(0, 1 << 20));
        app.add_option("--temperature", temperature_, "0 for greedy")
            ->check(CLI::Range(0.0, 100.0));
        app.add_option("--top-p", top_p_, "Nucleus sampling mass")->check(CLI::Range(0.0, 1.0));
        app.add_option("--seed", seed_, "Sampling seed");
        app.add_option("--logits-out", logits_out_,
                       "Write the last prompt position's logits (.npy, float32)");
        coordinate_window_.add(app);
        action_grammar_.add(app);
        app.add_option("--threads", threads_, "Worker threads (default: all)")
            ->check(CLI::Range(1, 1024));
        app.add_option("--device", device_, "Where the decoder runs: cpu or cuda")
            ->check(CLI::IsMember({"cpu", "cuda"}));
        gpu_.add(app);
        auto* image =
            app.add_option("--image", image_, "Image for a vision-language prompt (PNG, JPEG)");
        image->excludes(ids);
        app.add_option("--max-pixels", max_pixels_, "With --image: pixel cap for the image")
            ->check(CLI::Range(std::int64_t(65536), std::int64_t(1) << 40));
    }

    int run_vlm() {
        if (prompt_.empty()) throw CommandError("--image needs --prompt TEXT", kExitUsage);
        const int gpu = gpu_.resolve(device_);
        std::shared_ptr<const vision::Frame> frame;
        try {
            frame = std::make_shared<const vision::Frame>(vision::read_image(image_));
        } catch (const std::exception& e) {
            throw CommandError(std::string("--image: ") + e.what());
        }
        try {
            model::NativeVlm vlm({.model_dir = dir_,
                                  .max_pixels = max_pixels_,
                                  .threads = threads_,
                                  .device = device_,
                                  .gpu = gpu,
                                  .coordinate_window = coordinate_window_.value(),
                                  .action_grammar = action_grammar_.value(),
                                  .key_names = actuators::key_name_list()});
            planner::Request request;
            request.messages.push_back(
                {planner::Role::user,
                 {planner::ContentPart::of_image(frame), planner::ContentPart::of_text(prompt_)}});
            model::GenerateOptions opts;
            opts.temperature = temperature_;
            opts.top_p = top_p_;
            opts.max_tokens = max_new_;
            opts.seed = seed_;
            model::CancelToken cancel;
            const model::Response r = vlm.generate(
                request, opts,
                [](std::string_view s) {
                    std::fwrite(s.data(), 1, s.size(), stdout);
                    std::fflush(stdout);
                },
                cancel);
            std::printf("\n");
            if (!logits_out_.empty()) write_npy(logits_out_, vlm.last_prompt_logits());
            std::fprintf(stderr,
                         "%s: %d prompt tokens, first token after %.0f ms; %d tokens in %.0f ms "
                         "(%s)\n",
                         vlm.describe().c_str(), r.prompt_tokens, r.time_to_first_token_ms,
                         r.completion_tokens, r.total_ms, r.finish_reason.c_str());
            const model::NativeVlm::Timings t = vlm.last_timings();
            std::fprintf(stderr,
                         "{\"engine\":\"deskpilot\",\"threads\":%d,\"prompt_tokens\":%d,"
                         "\"image_tokens\":%d,\"ttft_ms\":%.1f,\"preprocess_ms\":%.1f,"
                         "\"vision_ms\":%.1f,\"prefill_ms\":%.1f,\"completion_tokens\":%d,"
                         "\"decode_ms\":%.1f}\n",
                         threads_ > 0 ? threads_ : int(std::thread::hardware_concurrency()),
                         r.prompt_tokens, t.image_tokens, r.time_to_first_token_ms, t.preprocess_ms,
                         t.vision_ms, t.prefill_ms, r.completion_tokens,
                         r.total_ms - r.time_to_first_token_ms);
        } catch (const model::ModelError& e) {
            throw CommandError(e.what());
        }
        return kExitOk;
    }

    int run() override {
        if (!image_.empty()) return run_vlm();
        if (action_grammar_.value())
            throw CommandError(
                "--action-grammar applies to an answer about an --image (the agent's "
                "request); a text prompt is generated as it comes",
                kExitUsage);
        if (prompt_.empty() && ids_.empty())
            throw CommandError("give --prompt TEXT or --ids N,N,…", kExitUsage);
        if (top_p_ <= 0.0f) throw CommandError("--top-p must be above 0", kExitUsage);
        const int gpu_index = gpu_.resolve(device_);
        try {
            const std::filesystem::path dir(dir_);
            const engine::ModelConfig config = engine::load_model_config(dir);
            // Fail on a missing GPU before reading gigabytes of checkpoint.
            std::optional<model::cuda::DeviceInfo> gpu;
            if (gpu_index >= 0) gpu = model::cuda::require_device(gpu_index);
            std::optional<engine::Tokenizer> tok;
            if (std::filesystem::exists(dir / "tokenizer.json"))
                tok = engine::Tokenizer::from_file(dir / "tokenizer.json");
            std::vector<std::int32_t> prompt;
            if (!prompt_.empty()) {
                if (!tok)
                    throw CommandError(
                        dir_ + ": no tokenizer.json, so --prompt cannot be used (give --ids)");
                prompt = tok->encode(prompt_);
            } else {
                prompt = parse_ids(ids_);
            }
            engine::cpu::ThreadPool pool(threads_);
            const auto checkpoint = std::make_shared<engine::Checkpoint>(dir);
            const std::unique_ptr<engine::TextDecoder> model =
                engine::make_text_decoder(config, checkpoint, pool);
            std::unique_ptr<model::cuda::CudaTextModel> gpu_model;
            if (gpu)
                gpu_model = model::cuda::CudaTextModel::upload(*model, *checkpoint, gpu->index);

            engine::GenerateOptions opts;
            opts.max_new_tokens = max_new_;
            opts.sampling = {temperature_, top_p_, seed_};
            if (tok)
                for (const char* s : {"<|im_end|>", "<|endoftext|>"})
                    if (auto id = tok->token_to_id(s)) opts.stop_ids.push_back(*id);
            std::optional<engine::StreamDecoder> stream;
            if (tok) stream.emplace(*tok, /*skip_special=*/true);
            bool first = true;
            const auto on_token = [&](std::int32_t id) {
                if (stream) {
                    const std::string piece = stream->push(id);
                    std::fwrite(piece.data(), 1, piece.size(), stdout);
                } else {
                    std::printf("%s%d", first ? "" : ",", id);
                }
                first = false;
                std::fflush(stdout);
                return true;
            };
            const auto result = gpu_model
                                    ? model::cuda::generate(*gpu_model, prompt, opts, on_token)
                                    : engine::generate(*model, prompt, opts, on_token);
            if (stream) {
                const std::string rest = stream->finish();
                std::fwrite(rest.data(), 1, rest.size(), stdout);
            }
            std::printf("\n");
            if (!logits_out_.empty()) write_npy(logits_out_, result.prompt_logits);

            rusage ru{};
            getrusage(RUSAGE_SELF, &ru);
            const auto n = double(result.tokens.size());
            const double decode_steps = n > 1 ? n - 1 : 0;  // the first token comes from prefill
            std::fprintf(stderr,
                         "prefill: %lld tokens in %.3f s (%.1f tok/s); decode: %.0f tokens in %.3f "
                         "s (%.1f tok/s); "
                         "peak memory %.1f MiB; %s\n",
                         static_cast<long long>(result.prompt_tokens), result.prefill_seconds,
                         double(result.prompt_tokens) / std::max(result.prefill_seconds, 1e-9),
                         decode_steps, result.decode_seconds,
                         decode_steps / std::max(result.decode_seconds, 1e-9),
                         double(ru.ru_maxrss) / 1024.0,
                         gpu ? ("cuda: " + gpu->name).c_str()
                             : (std::to_string(pool.size()) + " threads, " +
                                engine::cpu::isa_name(engine::cpu::best_isa()))
                                   .c_str());
        } catch (const engine::ConfigError& e) {
            throw CommandError(e.what());
        } catch (const engine::CheckpointError& e) {
            throw CommandError(e.what());
        } catch (const engine::TokenizerError& e) {
            throw CommandError(e.what());
        } catch (const model::cuda::CudaError& e) {
            throw CommandError(e.what());
        } catch (const std::invalid_argument& e) {
            throw CommandError(e.what());
        }
        return kExitOk;
    }

  private:
    std::string dir_, prompt_, ids_, logits_out_, image_;
    std::int64_t max_pixels_ = 0;
    int max_new_ = 32;
    float temperature_ = 0.0f, top_p_ = 1.0f;
    std::uint64_t seed_ = 0;
    int threads_ = 0;
    std::string device_ = "cpu";
    GpuOption gpu_;
    CoordinateWindowOption coordinate_window_;
    ActionGrammarOption action_grammar_;
};

DESKPILOT_REGISTER_COMMAND(GenerateCommand);

}  // namespace
}  // namespace deskpilot::cli
