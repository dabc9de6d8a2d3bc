#include "model/engine/native_vlm.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <new>
#include <random>
#include <span>

#include <nlohmann/json.hpp>

#include "model/engine/action_grammar.h"
#include "model/engine/arch/vl_model.h"
#include "model/engine/chat_format.h"
#include "model/engine/config.h"
#include "model/engine/coordinate_readout.h"
#include "model/engine/cpu/linear.h"
#include "model/engine/cuda/device.h"
#include "model/engine/cuda/memory_limit.h"
#include "model/engine/cuda/sample_twin.h"
#include "model/engine/cuda/vl_model_device.h"
#include "model/engine/generator.h"
#include "model/engine/preprocessor_config.h"
#include "model/engine/tokenizer.h"
#include "model/engine/vision/preprocess.h"
#include "planner/family.h"

namespace deskpilot::model {

namespace engine_ns = engine;

namespace {
using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// A screenshot as the model takes it: its pixel values, and their fingerprint (which tells the
// prefill whether its cache saw this image), each computed once.
struct PreparedImage {
    std::shared_ptr<const vision::Frame> frame;  // keeps the key's frame alive
    engine_ns::PixelValues pixels;
    std::uint64_t fingerprint = 0;
};
// Prepared images by frame: a screenshot stays in the conversation for several steps and is
// prepared once.
using PixelCache = std::map<const vision::Frame*, PreparedImage>;

// One request's images from the cache, lent to the prefill as one span: moved out of the cache
// and back when this ends, however the prefill ends. A 1080p screenshot's values are ~50 MB;
// copying them took 100-300 ms (on the 2-core machine) that no cancel could interrupt.
class LentPixels {
  public:
    // `frames` in conversation order; each must be in `cache`. A frame shown twice is copied.
    LentPixels(PixelCache& cache, std::vector<const vision::Frame*> frames)
        : cache_(cache), frames_(std::move(frames)), owner_(frames_.size(), true) {
        images_.reserve(frames_.size());
        for (std::size_t i = 0; i < frames_.size(); ++i) {
            PreparedImage& prepared = cache_.at(frames_[i]);
            const auto earlier = std::find(frames_.begin(), frames_.begin() + i, frames_[i]);
            owner_[i] = earlier == frames_.begin() + i;
            if (owner_[i])
                images_.push_back(std::move(prepared.pixels));
            else
                images_.push_back(images_[std::size_t(earlier - frames_.begin())]);
            fingerprints_.push_back(prepared.fingerprint);
        }
    }
    // Hands each frame's pixels back from its first showing, whether the request finished,
    // threw or was cancelled.
    ~LentPixels() {
        for (std::size_t i = 0; i < frames_.size(); ++i)
            if (owner_[i]) cache_.at(frames_[i]).pixels = std::move(images_[i]);
    }
    LentPixels(const LentPixels&) = delete;
    LentPixels& operator=(const LentPixels&) = delete;
    std::span<const engine_ns::PixelValues> images() const { return images_; }
    std::span<const std::uint64_t> fingerprints() const { return fingerprints_; }

  private:
    PixelCache& cache_;
    std::vector<const vision::Frame*> frames_;
    std::vector<bool> owner_;  // the frame's first showing, which holds the cache's pixels
    std::vector<engine_ns::PixelValues> images_;
    std::vector<std::uint64_t> fingerprints_;
};
}  // namespace

struct NativeVlm::Impl {
    NativeVlmConfig config;
    std::unique_ptr<engine_ns::cpu::ThreadPool> pool;
    std::optional<engine_ns::Tokenizer> tokenizer;
    std::unique_ptr<engine_ns::VlModel> model;
    engine_ns::PreprocessParams preprocess;  // the architecture's, with preprocessor_config.json's
    bool checkpoint_sized = false;           // that file gave pixel bounds
    engine_ns::ChatTemplate chat = engine_ns::ChatTemplate::qwen3_vl;
    engine_ns::VlmState state;
    std::vector<std::int32_t> stop_ids;
    PixelCache pixels;  // the last request's images
    vision::SmartResizeParams pixels_resize = engine_ns::kQwen3VlPreprocess.resize;
    std::int64_t reused = 0;
    std::vector<float> prompt_logits;
    NativeVlm::Timings timings;
    std::string gpu;  // the decoder's GPU, or "" on the CPU
    std::optional<engine_ns::CoordinateReadout> readout;
    std::optional<engine_ns::ActionGrammar> grammar;  // set: answers are kept well-formed
    bool screenshot_first = false;  // deskpilot.json's layout, for a family sized by its checkpoint

    // A family sized by its checkpoint takes the checkpoint's pixel bounds, when the checkpoint
    // gives them and the patch grids agree (a nano checkpoint trained at 960×576 says
    // max_pixels 576000); the rest keep their own.
    planner::ModelFamily family_as_seen(const planner::ModelFamily& family) const {
        planner::ModelFamily seen = family;
        if (family.sized_by_checkpoint && checkpoint_sized &&
            family.resize.factor == preprocess.resize.factor) {
            seen.resize.min_pixels = preprocess.resize.min_pixels;
            seen.resize.max_pixels = preprocess.resize.max_pixels;
        }
        if (family.sized_by_checkpoint) seen.screenshot_first = screenshot_first;
        return seen;
    }

    // The largest coordinates an answer about `screen` may write (ActionGrammar's limits): the
    // family's model extent less what maps off the screen, as the agent's mapper decides for the
    // family as seen under this engine's pixel cap. No limit (-1) for an unknown family or a
    // screen the mapper refuses: the grammar then keeps only the 4 digits.
    std::pair<int, int> coordinate_limits(std::string_view family_name, vision::Size screen) const {
        const planner::ModelFamily* family = planner::find_family(family_name);
        if (!family) return {-1, -1};
        try {
            const planner::CoordinateMapper mapper(
                planner::with_pixel_cap(family_as_seen(*family), config.max_pixels), screen);
            int x = mapper.model_extent().width, y = mapper.model_extent().height;
            while (x > 0 && mapper.map(x, 0).out_of_range) --x;
            while (y > 0 && mapper.map(0, y).out_of_range) --y;
            return {x, y};
        } catch (const std::invalid_argument&) {
            return {-1, -1};
        }
    }
};

namespace {
// deskpilot.json beside a checkpoint (tools/train_nano writes it), or null when there is none.
nlohmann::json read_marker(const std::filesystem::path& model_dir) {
    const std::filesystem::path marker = model_dir / "deskpilot.json";
    std::error_code ec;
    if (!std::filesystem::exists(marker, ec)) return nullptr;
    std::ifstream in(marker);
    if (!in) throw ModelError("'" + marker.string() + "': cannot be read");
    nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded()) throw ModelError("'" + marker.string() + "': is not valid JSON");
    if (!j.is_object())
        throw ModelError("'" + marker.string() + "': expected {\"family\": NAME} (an object)");
    return j;
}
}  // namespace

std::string native_default_family(const std::filesystem::path& model_dir) {
    const nlohmann::json j = read_marker(model_dir);
    if (!j.is_null()) {
        auto error = [&](const std::string& why) {
            return ModelError("'" + (model_dir / "deskpilot.json").string() + "': " + why);
        };
        const auto it = j.find("family");
        if (it == j.end() || !it->is_string())
            throw error("expected {\"family\": NAME}, a string naming the model's family");
        const std::string family = it->get<std::string>();
        if (!planner::find_family(family))
            throw error("unknown family '" + family + "' (known: " + planner::family_names() + ")");
        return family;
    }
    try {
        if (engine_ns::load_model_config(model_dir).architecture ==
            engine_ns::Architecture::qwen2_5_vl)
            return "ui-tars-1.5";
    } catch (const std::exception&) {
    }
    return "qwen3-vl";
}

int native_coordinate_window(const std::filesystem::path& model_dir) {
    const nlohmann::json j = read_marker(model_dir);
    if (j.is_null() || !j.contains("coordinate_window")) return 0;
    const nlohmann::json& w = j.at("coordinate_window");
    if (!w.is_number_integer() || w.get<long long>() < 0 || w.get<long long>() > 1000)
        throw ModelError("'" + (model_dir / "deskpilot.json").string() +
                         "': coordinate_window must be a whole number from 0 to 1000, not " +
                         w.dump());
    return w.get<int>();
}

namespace {
// A true/false setting of deskpilot.json, false when it (or the file) is not there.
bool marker_flag(const std::filesystem::path& model_dir, const char* name) {
    const nlohmann::json j = read_marker(model_dir);
    if (j.is_null() || !j.contains(name)) return false;
    const nlohmann::json& v = j.at(name);
    if (!v.is_boolean())
        throw ModelError("'" + (model_dir / "deskpilot.json").string() + "': " + name +
                         " must be true or false, not " + v.dump());
    return v.get<bool>();
}
}  // namespace

bool native_screenshot_first(const std::filesystem::path& model_dir) {
    return marker_flag(model_dir, "screenshot_first");
}

bool native_action_grammar(const std::filesystem::path& model_dir) {
    return marker_flag(model_dir, "action_grammar");
}

std::string native_pixel_cap_problem(const std::string& family, std::int64_t max_pixels) {
    const planner::ModelFamily* f = planner::find_family(family);
    if (max_pixels <= 0 || !f || max_pixels >= f->resize.min_pixels) return "";
    return "a pixel cap of " + std::to_string(max_pixels) + " is below family " + family +
           "'s smallest screenshot of " + std::to_string(f->resize.min_pixels) + " pixels";
}

NativeVlm::~NativeVlm() = default;

NativeVlm::NativeVlm(NativeVlmConfig config) : impl_(std::make_unique<Impl>()) {
    namespace fs = std::filesystem;
    const fs::path dir = config.model_dir;
    const std::string where = dir.string();
    bool use_grammar = false;
    if (!fs::is_directory(dir)) throw ModelError(where + ": no such model folder");
    if (!fs::exists(dir / "config.json")) throw ModelError(where + ": config.json is missing");
    if (!fs::exists(dir / "tokenizer.json"))
        throw ModelError(where + ": tokenizer.json is missing");
    try {
        const engine_ns::ModelConfig mc = engine_ns::load_model_config(dir);
        if (mc.architecture != engine_ns::Architecture::qwen3_vl_moe &&
            mc.architecture != engine_ns::Architecture::qwen2_5_vl)
            throw ModelError(where + ": architecture " +
                             engine_ns::architecture_name(mc.architecture) +
                             " is not supported by the native VLM (qwen3_vl_moe and qwen2_5_vl "
                             "are; it has no vision tower)");
        if (config.device != "cpu" && config.device != "cuda")
            throw ModelError("device '" + config.device + "' is unknown (cpu or cuda)");
        const bool cuda = config.device == "cuda";
        // No usable GPU (or a bad choice of one, or a bad memory cap): say so before reading
        // gigabytes of weights.
        const int gpu = !cuda ? 0 : config.gpu >= 0 ? config.gpu : model::cuda::choose_device();
        if (cuda) {
            model::cuda::memory_limit();
            const model::cuda::DeviceInfo info = model::cuda::require_device(gpu);
            impl_->gpu = "GPU " + std::to_string(info.index) + " " + info.name;
        }
        impl_->pool = std::make_unique<engine_ns::cpu::ThreadPool>(config.threads);
        impl_->tokenizer = engine_ns::Tokenizer::from_file(dir / "tokenizer.json");
        const int window =
            config.coordinate_window ? *config.coordinate_window : native_coordinate_window(dir);
        try {
            impl_->readout.emplace(*impl_->tokenizer, window);
        } catch (const std::invalid_argument& e) {
            throw ModelError(where + ": " + e.what());
        }
        impl_->screenshot_first = native_screenshot_first(dir);
        use_grammar = config.action_grammar ? *config.action_grammar : native_action_grammar(dir);
        auto ck = std::make_shared<const engine_ns::Checkpoint>(dir);
        impl_->model = std::make_unique<engine_ns::VlModel>(mc, ck, *impl_->pool);
        // The CPU models validated the checkpoint; the GPU ones copy its weights.
        if (cuda) model::cuda::move_to_device(*impl_->model, mc, *ck, gpu);
        const engine_ns::CheckpointPreprocess own =
            engine_ns::apply_preprocessor_config(dir, impl_->model->preprocess_params());
        impl_->preprocess = own.params;
        impl_->checkpoint_sized = own.pixel_bounds;
        impl_->chat = mc.architecture == engine_ns::Architecture::qwen2_5_vl
                          ? engine_ns::ChatTemplate::qwen2_vl
                          : engine_ns::ChatTemplate::qwen3_vl;
    } catch (const ModelError&) {
        throw;
    } catch (const std::bad_alloc&) {
        throw ModelError(where + ": out of memory while loading the model");
    } catch (const model::cuda::CudaError& e) {
        throw ModelError(e.what());
    } catch (const std::exception& e) {
        throw ModelError(e.what());
    }
    for (const char* s : {"<|im_end|>", "<|endoftext|>"})
        if (auto id = impl_->tokenizer->token_to_id(s)) impl_->stop_ids.push_back(*id);
    if (use_grammar) {
        impl_->grammar.emplace(*impl_->tokenizer, impl_->stop_ids);
        impl_->grammar->limit_key_names(config.key_names);
    }
    impl_->state = impl_->model->new_state();
    impl_->config = std::move(config);
}

planner::ModelFamily NativeVlm::family_as_seen(const planner::ModelFamily& family) const {
    return impl_->family_as_seen(family);
}

std::string NativeVlm::describe() const {
    return "native " +
           std::string(engine_ns::architecture_name(impl_->model->config().architecture)) + " @ " +
           impl_->config.model_dir.string() + " (" +
           (impl_->gpu.empty() ? "" : "decoder on cuda: " + impl_->gpu + ", vision tower too; ") +
           std::to_string(impl_->pool->size()) + " threads, " +
           engine_ns::cpu::isa_name(engine_ns::cpu::best_isa()) +
           (impl_->readout->window() > 0
                ? ", coordinate window " + std::to_string(impl_->readout->window())
                : "") +
           (impl_->grammar ? ", action grammar" : "") + ")";
}

std::vector<float> NativeVlm::last_prompt_logits() const {
    std::lock_guard lock(mutex_);
    return impl_->prompt_logits;
}

NativeVlm::Timings NativeVlm::last_timings() const {
    std::lock_guard lock(mutex_);
    return impl_->timings;
}

std::int64_t NativeVlm::last_reused_tokens() const {
    std::lock_guard lock(mutex_);
    return impl_->reused;
}

Response NativeVlm::generate(const planner::Request& request, const GenerateOptions& options,
                             const TextCallback& on_text, const CancelToken& cancel) {
    std::lock_guard lock(mutex_);
    Impl& m = *impl_;
    const auto start = Clock::now();
    Response r;
    m.timings = {};
    // The cancel token is the pool's stop check for everything this call runs: the forward
    // passes stop within one bounded chunk of work (a few ms) and throw cpu::Stopped.
    const engine_ns::cpu::StopScope stop([&] { return cancel.cancelled(); });
    try {
        // The family's image processor sizes the screenshot, so the coordinates the model writes
        // map back exactly (UI-TARS-1.5 uses its own bounds; deskpilot-nano the checkpoint's,
        // as family_as_seen tells the agent); a family of another patch grid keeps the
        // checkpoint's sizing.
        engine_ns::PreprocessParams preprocess = m.preprocess;
        if (const planner::ModelFamily* family = planner::find_family(request.family))
            if (family->resize.factor == preprocess.resize.factor)
                preprocess.resize = m.family_as_seen(*family).resize;
        const vision::SmartResizeParams& sizing = preprocess.resize;
        if (sizing.min_pixels != m.pixels_resize.min_pixels ||
            sizing.max_pixels != m.pixels_resize.max_pixels) {
            m.pixels.clear();  // prepared for another size
            m.pixels_resize = sizing;
        }
        // Images, in conversation order, and how many tokens each becomes.
        std::vector<const vision::Frame*> frames;
        std::vector<int> image_tokens;
        for (const planner::Message& msg : request.messages)
            for (const planner::ContentPart& part : msg.parts) {
                if (part.kind != planner::ContentPart::Kind::image) continue;
                if (!part.image) throw ModelError("request has an image part without an image");
                auto it = m.pixels.find(part.image.get());
                if (it == m.pixels.end()) {
                    const auto prepare = Clock::now();
                    PreparedImage prepared{
                        part.image,
                        engine_ns::preprocess_image(*part.image, preprocess, m.config.max_pixels,
                                                    *m.pool),
                        0};
                    prepared.fingerprint = engine_ns::image_fingerprint(prepared.pixels);
                    it = m.pixels.emplace(part.image.get(), std::move(prepared)).first;
                    m.timings.preprocess_ms += ms_since(prepare);
                }
                frames.push_back(part.image.get());
                image_tokens.push_back(int(it->second.pixels.merged_tokens()));
                m.timings.image_tokens += image_tokens.back();
            }
        std::erase_if(m.pixels, [&](const auto& entry) {
            return std::find(frames.begin(), frames.end(), entry.first) == frames.end();
        });
        engine_ns::ChatOptions chat;
        chat.image_tokens = image_tokens;
        const std::string text = engine_ns::format_chat(m.chat, request.messages, chat);
        const std::vector<std::int32_t> ids = m.tokenizer->encode(text);
        r.prompt_tokens = int(ids.size());

        engine_ns::cpu::check_stop();
        std::vector<float> logits;
        {
            const LentPixels images(m.pixels, frames);
            logits = m.model->prefill(ids, images.images(), images.fingerprints(), m.state);
        }
        m.reused = m.model->last_reused();
        m.prompt_logits = logits;

        engine_ns::Sampler sampler(
            {float(options.temperature), float(options.top_p), options.seed.value_or(0)});
        // A decoder that chooses tokens itself (CUDA) returns only the next id per step, not the
        // vocabulary's logits. Sampling there draws u from this generator and picks by
        // cuda::sample_top_p_cpu's rule (the device kernel's twin, also for the first token from
        // the prefill logits), so a seed repeats run to run; greedy is argmax on both paths.
        const bool on_device = m.model->text().chooses_tokens();
        // The coordinate readout refines greedy answers only; a sampled one stays as drawn.
        engine_ns::CoordinateReadout* readout = options.temperature == 0.0 ? &*m.readout : nullptr;
        if (readout) readout->reset();
        engine_ns::ActionGrammar* grammar = m.grammar ? &*m.grammar : nullptr;
        if (grammar) {
            grammar->reset();
            // The answer is about the last screenshot: its points must land on that screen.
            const auto [max_x, max_y] =
                frames.empty() ? std::pair{-1, -1}
                               : m.coordinate_limits(request.family, frames.back()->size());
            grammar->limit_coordinates(max_x, max_y);
            grammar->mask(logits);
        }
        std::mt19937_64 rng(options.seed.value_or(0));
        std::uniform_real_distribution<float> draw(0.0f, 1.0f);
        auto choice = [&] {
            engine_ns::TokenChoice c{float(options.temperature), float(options.top_p), 0.0f};
            if (c.temperature != 0.0f) c.u = draw(rng);
            return c;
        };
        auto first = [&]() -> std::int32_t {
            if (!on_device || options.temperature == 0.0) return sampler.sample(logits);
            const engine_ns::TokenChoice c = choice();
            return model::cuda::sample_top_p_cpu(logits.data(), std::int64_t(logits.size()),
                                                 c.temperature, c.top_p, c.u)
                .id;
        };
        engine_ns::StreamDecoder stream(*m.tokenizer, /*skip_special=*/true);
        r.finish_reason = "length";
        auto emit = [&](const std::string& piece) {
            if (piece.empty()) return false;
            const std::size_t before = r.text.size();
            r.text += piece;
            // A stop string ends the answer where it begins (it may straddle pieces).
            for (const std::string& s : options.stop) {
                if (s.empty()) continue;
                const std::size_t at =
                    r.text.find(s, before >= s.size() ? before - s.size() + 1 : 0);
                if (at != std::string::npos) {
                    if (at > before && on_text)
                        on_text(std::string_view(r.text).substr(before, at - before));
                    r.text.resize(at);
                    return true;
                }
            }
            if (on_text) on_text(std::string_view(r.text).substr(before));
            return false;
        };
        std::int32_t next = -1;
        for (int n = 0; n < options.max_tokens; ++n) {
            engine_ns::cpu::check_stop();
            const std::int32_t id = n == 0 ? first() : next;
            if (n == 0) {
                r.time_to_first_token_ms = ms_since(start);
                m.timings.vision_ms = 1e3 * m.model->last_vision_seconds();
                m.timings.prefill_ms =
                    r.time_to_first_token_ms - m.timings.preprocess_ms - m.timings.vision_ms;
            }
            ++r.completion_tokens;
            if (readout) readout->observe(id);
            if (grammar) grammar->observe(id);
            if (std::find(m.stop_ids.begin(), m.stop_ids.end(), id) != m.stop_ids.end()) {
                r.finish_reason = "stop";
                break;
            }
            if (emit(stream.push(id))) {
                r.finish_reason = "stop";
                break;
            }
            if (n + 1 == options.max_tokens) break;
            if (grammar && grammar->active()) {
                // The grammar needs the logits of every step, on any device; a sampled answer
                // is drawn from the allowed tokens by the host sampler.
                std::vector<float> logits = m.model->decode(id, m.state);
                grammar->mask(logits);
                next = sampler.sample(logits);
                if (readout && readout->wants_logits()) next = readout->choose(logits, next);
            } else if (readout && readout->wants_logits()) {  // a coordinate: its logits
                const std::vector<float> logits = m.model->decode(id, m.state);
                next = readout->choose(logits, sampler.sample(logits));
            } else {
                next = on_device ? m.model->decode_choose(id, m.state, choice())
                                 : sampler.sample(m.model->decode(id, m.state));
            }
        }
        if (r.finish_reason == "length") emit(stream.finish());
    } catch (const engine_ns::cpu::Stopped&) {
        r.finish_reason = "cancelled";
    } catch (const ModelError&) {
        throw;
    } catch (const std::bad_alloc&) {
        m.state = m.model->new_state();
        throw ModelError("native engine: out of memory (try a lower pixel cap)");
    } catch (const std::exception& e) {
        throw ModelError(std::string("native engine: ") + e.what());
    }
    r.total_ms = ms_since(start);
    return r;
}

}  // namespace deskpilot::model
