// model::NativeVlm: the in-process backend. A planner::Request becomes the Qwen3-VL chat
// layout (chat_format), its screenshots pixel values (vision/preprocess), and the prompt runs
// through the vision tower and the decoder (CPU, or both CUDA with device "cuda"); tokens
// stream out as text while they are sampled. Successive calls keep the KV cache, so an agent
// conversation that only grew recomputes only its new turns.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "model/vlm.h"

namespace deskpilot::model {

struct NativeVlmConfig {
    std::filesystem::path model_dir;  // config.json, *.safetensors, tokenizer.json
    std::int64_t max_pixels = 0;      // > 0: pixel cap per image (CPU runs); else the model's
    int threads = 0;                  // 0: one per hardware thread
    // Where the model runs: "cpu", or "cuda" (decoder and vision tower; Qwen3-VL-MoE and
    // Qwen2.5-VL checkpoints). Checked before the weights are read.
    std::string device = "cpu";
    // With "cuda": the GPU's index; -1 takes cuda::choose_device()'s (DESKPILOT_CUDA_DEVICE,
    // else 0).
    int gpu = -1;
    // Greedy coordinates read as the mean of the numbers within this many of the most likely one
    // (engine/coordinate_readout.h); 0 writes the most likely number. Unset: the window the
    // checkpoint's deskpilot.json names ({"coordinate_window": 16}), else 0.
    std::optional<int> coordinate_window;
    // Keep answers well-formed (engine/action_grammar.h): only tokens that continue a valid
    // "[Thought: …\n]Action: call" may be chosen. Unset: deskpilot.json's "action_grammar", else
    // off.
    std::optional<bool> action_grammar;
    // With the grammar: the key names a hotkey may use besides single letters and digits (the
    // actuators', actuators::key_name_list(), which the app passes; the model library does not
    // link the actuators). Empty: any word of letters, digits and '_'.
    std::vector<std::string> key_names;
};

// The planner family a model folder speaks unless told otherwise: the one its deskpilot.json
// names ({"family": "deskpilot-nano"}, which tools/train_nano writes beside its checkpoints, whose
// prompts and coordinates are their own), else "ui-tars-1.5" for a qwen2_5_vl checkpoint
// (UI-TARS-1.5-7B), else "qwen3-vl" — also when config.json cannot be read (loading the model
// then reports why). Throws ModelError naming deskpilot.json when it is there but unreadable,
// malformed or names no known family.
std::string native_default_family(const std::filesystem::path& model_dir);

// The coordinate window model_dir's deskpilot.json names ("coordinate_window", a whole number
// >= 0), else 0. Throws ModelError naming deskpilot.json when it is there but unreadable,
// malformed, or gives a window that is not a whole number >= 0.
int native_coordinate_window(const std::filesystem::path& model_dir);

// Whether model_dir's deskpilot.json says the checkpoint was trained with its screenshot before
// the prompt ("screenshot_first": true; planner::ModelFamily::screenshot_first), else false.
// Throws ModelError naming deskpilot.json when it is there but unreadable, malformed, or gives a
// value that is not true or false.
bool native_screenshot_first(const std::filesystem::path& model_dir);

// Whether model_dir's deskpilot.json turns constrained action decoding on ("action_grammar": true;
// NativeVlmConfig::action_grammar), else false. Throws ModelError naming deskpilot.json when it is
// there but unreadable, malformed, or gives a value that is not true or false.
bool native_action_grammar(const std::filesystem::path& model_dir);

// A pixel cap shows the model a smaller screenshot than `family`'s own resize bounds give; the
// agent maps coordinates from that smaller image (planner::with_pixel_cap), but a cap below the
// family's minimum image cannot be honoured. Returns that problem as a sentence, or "" when the
// combination is sound.
std::string native_pixel_cap_problem(const std::string& family, std::int64_t max_pixels);

class NativeVlm : public Vlm {
  public:
    // Loads the model. Throws ModelError naming the folder and the problem: missing folder,
    // config.json, tokenizer.json or weights, an unsupported architecture, broken tensors,
    // out of memory, no usable GPU for device "cuda" (the CUDA backend's reason).
    explicit NativeVlm(NativeVlmConfig config);
    ~NativeVlm() override;

    // Cancellation is checked between layers and blocks during prefill and before each token.
    Response generate(const planner::Request& request, const GenerateOptions& options,
                      const TextCallback& on_text, const CancelToken& cancel) override;
    std::string describe() const override;
    // A family that is sized_by_checkpoint (deskpilot-nano) with the checkpoint's pixel bounds
    // (preprocessor_config.json), when its patch grid is the model's; others as they are.
    planner::ModelFamily family_as_seen(const planner::ModelFamily& family) const override;

    // Prompt tokens the last generate() took from the cache instead of recomputing.
    std::int64_t last_reused_tokens() const;
    // The logits after the last generate()'s prompt (before the first sampled token), for
    // parity checks against a reference; empty before any call.
    std::vector<float> last_prompt_logits() const;
    // Where the last generate()'s time to first token went: preparing the images' pixel values
    // (0 for a screenshot prepared by an earlier call), the vision tower, and the rest of the
    // prefill (chat layout, tokenizer, decoder, first sample). Milliseconds.
    struct Timings {
        double preprocess_ms = 0, vision_ms = 0, prefill_ms = 0;
        int image_tokens = 0;
    };
    Timings last_timings() const;

    struct Impl;

  private:
    std::unique_ptr<Impl> impl_;
    mutable std::mutex mutex_;  // one generation at a time
};

}  // namespace deskpilot::model
