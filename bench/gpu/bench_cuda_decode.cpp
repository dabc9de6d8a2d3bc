// The CUDA text decoder at Qwen3-VL-30B-A3B's real shapes (or, with --model qwen2_5,
// UI-TARS-1.5-7B's dense Qwen2.5-VL decoder) with random bf16 weights generated on the GPU (no
// checkpoint download): prefill time for a screenshot-sized prompt, batch-1 decode tokens/s, and
// the memory bandwidth decode achieves, as a fraction of (a) a device-to-device cudaMemcpy measured
// in the same run and (b) the device's nominal peak.
//   bench_cuda_decode [--model qwen3|qwen2_5] [--layers N] [--prompt-tokens N] [--decode-tokens N]
//                     [--peak-gbs G] [--kv bf16|f32|both] [--fused 1|0|both]
//                     [--graphs 1|0|both] [--gemv 1|0|both] [--pdl 1|0|both]
//                     [--moe-grouping device|host|both]
// --kv: the KV cache's type (default: DESKPILOT_CUDA_KV, else bf16); `both` measures f32 (the
// baseline) and bf16 in the same run and prints bf16's decode and prefill speed as ratios to it,
// which matters at long context (--prompt-tokens 16384), where the cache is a large part of the
// bytes a decode step reads.
// --fused: the decoder's fused epilogues (default: DESKPILOT_CUDA_FUSED, else on); `both`
// measures the unfused kernel sequence (the baseline) and the fused one in the same run and
// prints the fused decode and prefill speed as ratios to it.
// --graphs: each decode step as a CUDA graph (default: DESKPILOT_CUDA_GRAPHS, else on); `both`
// measures eager steps (the baseline) and graph steps in the same run and prints the decode
// tokens/s ratio (prefill is never a graph: its ratio only shows the noise), with the graph's
// captures, instantiations, updates and replays (expected: the step captured and instantiated
// once, every later decode step a replay).
// --gemv: the batch-1 GEMMs (the MoE experts' too) through the engine's matrix-vector kernels
// (default: DESKPILOT_CUDA_GEMV, else on) or cuBLAS; `both` measures cuBLAS (the baseline) and
// the kernels in the same run and prints the decode speed as a ratio to it.
// --pdl: programmatic dependent launch of the decode step's kernels (model/engine/cuda/pdl.h;
// default: DESKPILOT_CUDA_PDL, else off); `both` measures plain launches (the baseline) and PDL in
// the same run and prints the decode speed as a ratio to it (on a GPU before Hopper both are
// plain launches, and it says so).
// --moe-grouping: where the MoE layers of a prefill group their (token, expert) pairs (default:
// DESKPILOT_CUDA_MOE_GROUPING, else device: model/engine/cuda/moe_grouped.h); `both` measures host
// grouping (the baseline: a stream synchronisation and two cuBLAS GEMMs per chosen expert a layer)
// and device grouping in the same run and prints the prefill speed as a ratio to it (decode steps
// take the batched path either way: their ratio only shows the noise).
// At most one of --kv, --fused, --graphs, --gemv, --pdl and --moe-grouping is `both`.
// Text only: "prefill" is the ~2.7k text tokens a
// 1920x1080 screenshot becomes, not the vision encoder (bench_cuda_prefill times the tower, the
// prefill with the image features injected and the answer's decode: an agent step's model time).
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench/gpu/real_shapes.h"
#include "model/engine/cuda/pdl.h"
#include "model/engine/cuda/text_model.h"

using namespace deskpilot;
using namespace deskpilot::model;
namespace engine = deskpilot::model::engine;
using clock_type = std::chrono::steady_clock;

namespace {

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Device-to-device copy bandwidth (read + write bytes per second): the practical ceiling.
double copy_gbs() {
    const std::size_t bytes = std::size_t(2) << 30;
    void *a = nullptr, *b = nullptr;
    if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess) return 0;
    cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
    cudaDeviceSynchronize();
    const auto t0 = clock_type::now();
    const int reps = 10;
    for (int i = 0; i < reps; ++i) cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
    cudaDeviceSynchronize();
    const double s = seconds_since(t0);
    cudaFree(a);
    cudaFree(b);
    return 2.0 * double(bytes) * reps / s / 1e9;
}

double nominal_peak_gbs(const std::string& name) {
    if (name.find("H200") != std::string::npos) return 4800;
    if (name.find("H100") != std::string::npos)
        return name.find("PCIe") != std::string::npos ? 2000 : 3350;
    if (name.find("A100") != std::string::npos) return 2039;
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    int layers = 0, prompt_tokens = 2700, decode_tokens = 128;
    double peak = 0;
    std::string arch = "qwen3", kv = "", fused = "", graphs = "", gemv = "", pdl = "",
                grouping = "";
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--model")
            arch = argv[i + 1];
        else if (a == "--layers")
            layers = std::atoi(argv[i + 1]);
        else if (a == "--prompt-tokens")
            prompt_tokens = std::atoi(argv[i + 1]);
        else if (a == "--decode-tokens")
            decode_tokens = std::atoi(argv[i + 1]);
        else if (a == "--peak-gbs")
            peak = std::atof(argv[i + 1]);
        else if (a == "--kv")
            kv = argv[i + 1];
        else if (a == "--fused")
            fused = argv[i + 1];
        else if (a == "--graphs")
            graphs = argv[i + 1];
        else if (a == "--gemv")
            gemv = argv[i + 1];
        else if (a == "--pdl")
            pdl = argv[i + 1];
        else if (a == "--moe-grouping")
            grouping = argv[i + 1];
        else {
            std::fprintf(stderr, "unknown option %s\n", a.c_str());
            return 2;
        }
    }
    if (arch != "qwen3" && arch != "qwen2_5") {
        std::fprintf(stderr, "--model is qwen3 or qwen2_5, not %s\n", arch.c_str());
        return 2;
    }
    if (!kv.empty() && kv != "bf16" && kv != "f32" && kv != "both") {
        std::fprintf(stderr, "--kv is bf16, f32 or both, not %s\n", kv.c_str());
        return 2;
    }
    if (!fused.empty() && fused != "1" && fused != "0" && fused != "both") {
        std::fprintf(stderr, "--fused is 1, 0 or both, not %s\n", fused.c_str());
        return 2;
    }
    if (!graphs.empty() && graphs != "1" && graphs != "0" && graphs != "both") {
        std::fprintf(stderr, "--graphs is 1, 0 or both, not %s\n", graphs.c_str());
        return 2;
    }
    if (!gemv.empty() && gemv != "1" && gemv != "0" && gemv != "both") {
        std::fprintf(stderr, "--gemv is 1, 0 or both, not %s\n", gemv.c_str());
        return 2;
    }
    if (!pdl.empty() && pdl != "1" && pdl != "0" && pdl != "both") {
        std::fprintf(stderr, "--pdl is 1, 0 or both, not %s\n", pdl.c_str());
        return 2;
    }
    if (!grouping.empty() && grouping != "device" && grouping != "host" && grouping != "both") {
        std::fprintf(stderr, "--moe-grouping is device, host or both, not %s\n", grouping.c_str());
        return 2;
    }
    if ((kv == "both") + (fused == "both") + (graphs == "both") + (gemv == "both") +
            (pdl == "both") + (grouping == "both") >
        1) {
        std::fprintf(stderr,
                     "--kv both, --fused both, --graphs both, --gemv both, --pdl both and "
                     "--moe-grouping both compare one thing each; pick one\n");
        return 2;
    }
    const bool dense = arch == "qwen2_5";
    if (layers == 0) layers = dense ? 28 : 48;  // the real depths
    if (layers < 1 || prompt_tokens < 1 || decode_tokens < 2) {
        std::fprintf(stderr, "--layers, --prompt-tokens >= 1 and --decode-tokens >= 2\n");
        return 2;
    }
    try {
        const cuda::DeviceInfo gpu = cuda::require_device(0);
        if (peak == 0) peak = nominal_peak_gbs(gpu.name);
        std::printf("device: %s (%.1f GiB), sm_%d%d\n", gpu.name.c_str(),
                    double(gpu.total_memory) / double(1ull << 30), gpu.compute_major,
                    gpu.compute_minor);
        const double copy = copy_gbs();
        std::printf("baseline: device-to-device copy %.0f GB/s; nominal peak %.0f GB/s\n", copy,
                    peak);

        auto t0 = clock_type::now();
        const engine::ModelConfig config =
            dense ? bench::gpu::ui_tars_1_5_7b(layers) : bench::gpu::qwen3_vl_30b_a3b(layers);
        const auto model = cuda::CudaTextModel::synthetic(config, 42);
        std::printf(
            "model: %s text shapes, %d layers, %.2f GB bf16 weights "
            "(generated on the GPU in %.1f s)\n",
            dense ? "UI-TARS-1.5-7B (Qwen2.5-VL-7B)" : "Qwen3-VL-30B-A3B", layers,
            double(model->weight_bytes()) / 1e9, seconds_since(t0));

        std::mt19937 rng(1);
        std::uniform_int_distribution<std::int32_t> tok(0, config.text.vocab_size - 1);
        std::vector<std::int32_t> prompt(static_cast<std::size_t>(prompt_tokens));
        for (auto& id : prompt) id = tok(rng);
        struct Figures {
            double prefill_s = 0, tps = 0;
        };
        if (fused == "0" || fused == "1") model->set_fused(fused == "1");
        if (graphs == "0" || graphs == "1") model->set_graphs(graphs == "1");
        if (gemv == "0" || gemv == "1") model->set_gemv(gemv == "1");
        if (pdl == "0" || pdl == "1") cuda::k::set_pdl(pdl == "1");
        if (grouping == "device" || grouping == "host")
            model->set_moe_device_grouping(grouping == "device");
        auto measure = [&](cuda::KvDtype dtype) {
            model->set_kv_dtype(dtype);
            const std::string label =
                std::string(dtype == cuda::KvDtype::bf16 ? "bf16" : "f32") +
                (model->fused() ? " KV" : " KV, unfused") + (model->graphs() ? ", graphs" : "") +
                (model->gemv() ? "" : ", cuBLAS gemv") + (cuda::k::pdl_launches() ? ", PDL" : "") +
                (model->moe_device_grouping() ? "" : ", MoE grouped on the host");
            const char* name = label.c_str();
            std::vector<double> prefill;
            for (int rep = 0; rep < 3; ++rep) {
                model->reset(prompt_tokens + decode_tokens + 8);
                auto t1 = clock_type::now();
                model->forward_greedy(prompt, engine::Positions::text(0, prompt_tokens));
                prefill.push_back(seconds_since(t1));
            }
            std::sort(prefill.begin(), prefill.end());
            std::printf("[%s] prefill: %d tokens in %.1f ms (median of 3; %.0f tok/s)\n", name,
                        prompt_tokens, prefill[1] * 1e3, prompt_tokens / prefill[1]);

            // Decode from the prefilled cache: a few warm-up steps, then the timed ones.
            std::int32_t id = 1;
            for (int i = 0; i < 4; ++i)
                id = model->forward_greedy(std::span(&id, 1),
                                           engine::Positions::text(model->length(), 1));
            const std::size_t bytes = model->decode_bytes_per_token();
            auto t1 = clock_type::now();
            for (int i = 0; i < decode_tokens; ++i)
                id = model->forward_greedy(std::span(&id, 1),
                                           engine::Positions::text(model->length(), 1));
            const double s = seconds_since(t1), tps = decode_tokens / s;
            const double gbs = double(bytes) * tps / 1e9;
            std::printf(
                "[%s] decode: %.1f tok/s at context %lld (%.2f ms/token), %.2f GB read per "
                "token\n",
                name, tps, static_cast<long long>(model->length()), 1e3 / tps, double(bytes) / 1e9);
            std::printf(
                "[%s] decode bandwidth: %.0f GB/s = %.3f of the measured copy, %.3f of nominal "
                "peak\n",
                name, gbs, copy > 0 ? gbs / copy : 0.0, peak > 0 ? gbs / peak : 0.0);
            if (peak > 0)
                std::printf(
                    "[%s] bandwidth bound at this context: %.0f tok/s; decode reaches %.3f of "
                    "it\n",
                    name, peak * 1e9 / double(bytes), tps / (peak * 1e9 / double(bytes)));
            return Figures{prefill[1], tps};
        };
        // `what` against its baseline, measured in the same run.
        auto compare = [&](const char* what, const Figures& base, const Figures& f) {
            std::printf("%s at context %d: decode %.3fx the tokens/s, prefill %.3fx the speed\n",
                        what, prompt_tokens + decode_tokens + 4, f.tps / base.tps,
                        base.prefill_s / f.prefill_s);
        };
        if (kv == "both") {
            const Figures f32 = measure(cuda::KvDtype::f32), bf16 = measure(cuda::KvDtype::bf16);
            compare("bf16 KV vs f32 KV", f32, bf16);
        } else {
            const cuda::KvDtype dtype =
                kv.empty() ? model->kv_dtype()
                           : (kv == "f32" ? cuda::KvDtype::f32 : cuda::KvDtype::bf16);
            if (fused == "both") {
                model->set_fused(false);
                const Figures before = measure(dtype);
                model->set_fused(true);
                compare("fused vs unfused epilogues", before, measure(dtype));
            } else if (graphs == "both") {
                model->set_graphs(false);
                const Figures before = measure(dtype);
                model->set_graphs(true);
                compare("decode steps as CUDA graphs vs eager", before, measure(dtype));
                const cuda::GraphCounts c = model->graph_counts();
                std::printf(
                    "graph: %lld captures, %lld instantiations, %lld updates, %lld launches "
                    "(%lld replays), %lld abandoned\n",
                    (long long)c.captures, (long long)c.instantiations, (long long)c.updates,
                    (long long)c.launches, (long long)c.replays, (long long)c.abandoned);
            } else if (gemv == "both") {
                model->set_gemv(false);
                const Figures before = measure(dtype);
                model->set_gemv(true);
                compare("matrix-vector kernels vs cuBLAS", before, measure(dtype));
            } else if (pdl == "both") {
                cuda::k::set_pdl(false);
                const Figures before = measure(dtype);
                cuda::k::set_pdl(true);
                if (!cuda::k::pdl_launches())
                    std::printf("programmatic dependent launch: not on this GPU (before sm_90)\n");
                compare("programmatic dependent launch vs plain launches", before, measure(dtype));
            } else if (grouping == "both") {
                model->set_moe_device_grouping(false);
                const Figures before = measure(dtype);
                model->set_moe_device_grouping(true);
                compare("MoE grouped on the device vs on the host", before, measure(dtype));
            } else {
                measure(dtype);
            }
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_cuda_decode: %s\n", e.what());
        return 1;
    }
    return 0;
}
