// How far the engine's bf16-activation path (the prefill GEMMs it picks on AVX512_BF16 CPUs)
// moves a vision-language checkpoint's logits from its f32 path, over every answer of a
// `deskpilot eval grounding` run: the grounding prompt for each target's screenshot, then its
// answer teacher-forced, one row of logits after the prompt and after each answer token.
//   DESKPILOT_BF16_ACTIVATIONS=0 bench_engine_bf16_drift --model-dir D --eval G.json --out f32.bin
//   bench_engine_bf16_drift --model-dir D --eval G.json --out bf16.bin
//   bench_engine_bf16_drift --compare f32.bin bf16.bin
// The path is chosen once per process (cpu::best_isa), so the two runs are two processes; the
// f32 run is the baseline (it equals transformers within 1e-5 of the largest logit, see
// test_engine_nano_checkpoint_f32). --compare prints, over all rows, the quantiles of
// max |diff| / largest |logit| (the bound test_engine_nano_checkpoint applies to one screenshot),
// KL(f32 || bf16) in nats, and the rows whose greedy token differs: the figures a bound for the
// bf16 path is chosen from, measured over many screens and not one.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "logit_drift.h"
#include "model/engine/arch/vl_model.h"
#include "model/engine/chat_format.h"
#include "model/engine/config.h"
#include "model/engine/cpu/linear.h"
#include "model/engine/tokenizer.h"
#include "model/engine/vision/preprocess.h"
#include "planner/conversation.h"
#include "planner/family.h"
#include "vision/image_io.h"

using namespace deskpilot;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// One row: the target's index in the eval run, the row (0 = after the prompt), the logits.
struct RowHeader {
    std::int32_t target = 0, row = 0;
};

int usage() {
    std::fprintf(stderr,
                 "usage: bench_engine_bf16_drift --model-dir DIR --eval G.json --out FILE "
                 "[--family F] [--limit N]\n"
                 "       bench_engine_bf16_drift --compare F32_FILE BF16_FILE\n");
    return 2;
}

int write_rows(const fs::path& dir, const fs::path& eval_path, const fs::path& out,
               const std::string& family_name, int limit) {
    std::ifstream in(eval_path);
    if (!in) throw std::runtime_error(eval_path.string() + ": cannot open");
    const json eval = json::parse(in);
    const fs::path screens = eval.at("out_dir").get<std::string>();
    const planner::ModelFamily* family = planner::find_family(family_name);
    if (!family) throw std::runtime_error("--family " + family_name + ": unknown");

    const model::engine::ModelConfig config = model::engine::load_model_config(dir);
    model::engine::VlModel vl(config, std::make_shared<const model::engine::Checkpoint>(dir));
    const auto tokenizer = model::engine::Tokenizer::from_file(dir / "tokenizer.json");
    model::engine::PreprocessParams params = vl.preprocess_params();
    params.resize = family->resize;  // as NativeVlm does for the request's family

    std::ofstream o(out, std::ios::binary);
    if (!o) throw std::runtime_error(out.string() + ": cannot write");
    std::int64_t vocab = 0, rows = 0;
    int target = 0;
    for (const json& item : eval.at("items")) {
        if (limit > 0 && target >= limit) break;
        const fs::path shot = screens / item.at("screenshot").get<std::string>();
        auto frame = std::make_shared<const vision::Frame>(vision::read_image(shot));
        const std::vector<model::engine::PixelValues> images = {
            model::engine::preprocess_image(*frame, params)};
        for (const json& t : item.at("targets")) {
            if (limit > 0 && target >= limit) break;
            planner::ConversationOptions options;
            options.prompt.kind = planner::PromptKind::grounding;
            planner::Conversation conversation(*family, t.at("instruction").get<std::string>(),
                                               options);
            conversation.add_screenshot(frame);
            model::engine::ChatOptions chat;
            chat.image_tokens = {int(images[0].merged_tokens())};
            const auto prompt = tokenizer.encode(model::engine::format_chat(
                model::engine::ChatTemplate::qwen3_vl, conversation.build().messages, chat));
            const auto answer = tokenizer.encode(t.at("response").get<std::string>());

            model::engine::VlmState state = vl.new_state();
            std::vector<float> logits = vl.prefill(prompt, images, state);
            if (vocab == 0) {
                vocab = std::int64_t(logits.size());
                o.write(reinterpret_cast<const char*>(&vocab), sizeof vocab);
            }
            for (std::size_t row = 0; row <= answer.size(); ++row) {
                if (row > 0) logits = vl.decode(answer[row - 1], state);
                const RowHeader h{target, std::int32_t(row)};
                o.write(reinterpret_cast<const char*>(&h), sizeof h);
                o.write(reinterpret_cast<const char*>(logits.data()),
                        std::streamsize(logits.size() * sizeof(float)));
                ++rows;
            }
            ++target;
        }
    }
    if (!o) throw std::runtime_error(out.string() + ": write failed");
    std::printf("%s kernels: %d targets, %lld rows of %lld logits -> %s\n",
                model::engine::cpu::isa_name(model::engine::cpu::best_isa()), target,
                static_cast<long long>(rows), static_cast<long long>(vocab), out.c_str());
    return 0;
}

struct RowFile {
    std::ifstream in;
    std::int64_t vocab = 0;
    explicit RowFile(const fs::path& p) : in(p, std::ios::binary) {
        if (!in || !in.read(reinterpret_cast<char*>(&vocab), sizeof vocab) || vocab <= 0)
            throw std::runtime_error(p.string() + ": not a bench_engine_bf16_drift file");
    }
    bool next(RowHeader& h, std::vector<float>& v) {
        v.resize(std::size_t(vocab));
        if (!in.read(reinterpret_cast<char*>(&h), sizeof h)) return false;
        if (!in.read(reinterpret_cast<char*>(v.data()), std::streamsize(vocab * sizeof(float))))
            throw std::runtime_error("a row file ends inside a row");
        return true;
    }
};

struct RowDrift {
    RowHeader at;
    double ratio = 0, kl = 0;  // max |diff| / largest |logit| (at least 1); KL(base || other)
    bool same_argmax = true;
};

double quantile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[std::size_t(q * double(v.size() - 1) + 0.5)];
}

int compare(const fs::path& base_path, const fs::path& other_path) {
    RowFile base(base_path), other(other_path);
    if (base.vocab != other.vocab) throw std::runtime_error("the two files differ in vocabulary");
    std::vector<float> a, b;
    RowHeader ha, hb;
    std::vector<RowDrift> drift;
    while (base.next(ha, a)) {
        if (!other.next(hb, b) || hb.target != ha.target || hb.row != ha.row)
            throw std::runtime_error("the two files hold different rows (another eval run?)");
        const bench::LogitDrift m = bench::logit_drift(a.data(), b.data(), a.size());
        drift.push_back({ha, m.worst / m.largest, m.kl, m.want_argmax == m.got_argmax});
    }
    if (other.next(hb, b)) throw std::runtime_error("the second file holds more rows");
    std::vector<double> ratios, kls;
    int flips = 0, over = 0;
    for (const RowDrift& d : drift) {
        ratios.push_back(d.ratio), kls.push_back(d.kl);
        flips += !d.same_argmax;
        over += d.ratio > 5e-3;
    }
    std::printf(
        "%zu rows; max |diff| / largest |logit|: median %.2e, p99 %.2e, p99.9 %.2e, max "
        "%.2e; rows over 5e-3: %d\n",
        drift.size(), quantile(ratios, 0.5), quantile(ratios, 0.99), quantile(ratios, 0.999),
        quantile(ratios, 1), over);
    std::printf(
        "KL(f32 || bf16) nats: median %.2e, p99 %.2e, max %.2e; greedy token differs in "
        "%d rows\n",
        quantile(kls, 0.5), quantile(kls, 0.99), quantile(kls, 1), flips);
    std::sort(drift.begin(), drift.end(),
              [](const RowDrift& x, const RowDrift& y) { return x.ratio > y.ratio; });
    for (std::size_t i = 0; i < std::min<std::size_t>(8, drift.size()); ++i)
        std::printf("  target %d row %d: ratio %.2e, KL %.2e%s\n", drift[i].at.target,
                    drift[i].at.row, drift[i].ratio, drift[i].kl,
                    drift[i].same_argmax ? "" : ", greedy token differs");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        std::string dir, eval, out, family = "deskpilot-nano";
        int limit = 0;
        for (int i = 1; i < argc; ++i) {
            const std::string a = argv[i];
            const bool has = i + 1 < argc;
            if (a == "--compare" && i + 2 < argc) return compare(argv[i + 1], argv[i + 2]);
            if (a == "--model-dir" && has)
                dir = argv[++i];
            else if (a == "--eval" && has)
                eval = argv[++i];
            else if (a == "--out" && has)
                out = argv[++i];
            else if (a == "--family" && has)
                family = argv[++i];
            else if (a == "--limit" && has)
                limit = std::stoi(argv[++i]);
            else
                return usage();
        }
        if (dir.empty() || eval.empty() || out.empty()) return usage();
        return write_rows(dir, eval, out, family, limit);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_engine_bf16_drift: %s\n", e.what());
        return 1;
    }
}
