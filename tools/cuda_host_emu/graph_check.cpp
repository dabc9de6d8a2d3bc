// The decode step as a CUDA graph (DESKPILOT_CUDA_GRAPHS, model/engine/cuda/graph.h) on the host
// emulator (see run.sh): text_model.cpp's real host code over the emulated kernels, with
// cuda_runtime.h's stream capture (launches, copies and cuBLAS calls recorded, replayed by a
// graph launch; a sync, an allocation or a pageable copy inside a capture refused).
//   refusals: the emulator refuses what a real capture refuses (else the check below proves
//     nothing about the step synchronising or allocating).
//   decode TINY_DIR OUT_DIR: two decoders on the bf16 copy of a tiny checkpoint, graphs off and
//     on, decode greedily from a 60-token prompt past 64 cached tokens (the split-K grid grows):
//     logits and tokens bit for bit the same, one instantiation then updates; a bad token inside
//     a captured step is its error and leaves the cache as it was; a rewind; then the unfused
//     kernel sequence (a scratch buffer grows: the capture is abandoned and the step run
//     eagerly; then another topology: instantiated again), still the same bits.
#define EMU_WITH_ENGINE
#include <cstdio>

#include "check_report.h"
#include "engine_standins.h"
#include "model/engine/arch/vl_model.h"
#include "model/engine/cuda/text_model.h"
#include "tests/model/engine/cuda_test_support.h"

namespace engine = deskpilot::model::engine;
namespace cuda = deskpilot::model::cuda;

namespace {

int refusals() {
    std::printf("stream capture on the emulator:\n");
    std::vector<float> host(4, 1.0f), dev(4, 0.0f);
    void* pinned = nullptr;
    cudaHostAlloc(&pinned, 16, cudaHostAllocDefault);
    cudaStream_t s = nullptr;
    auto capture = [&](auto&& body) {
        cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed);
        body();
        cudaGraph_t g = nullptr;
        const cudaError_t e = cudaStreamEndCapture(s, &g);
        cudaGraphDestroy(g);
        cudaGetLastError();
        return e;
    };
    cudaError_t copy = cudaSuccess;
    expect(capture([&] {
               copy = cudaMemcpyAsync(dev.data(), host.data(), 16, cudaMemcpyHostToDevice, s);
           }) == cudaErrorStreamCaptureInvalidated &&
               copy == cudaErrorStreamCaptureUnsupported,
           "a copy from pageable memory invalidates the capture");
    expect(capture([&] {
               copy = cudaMemcpyAsync(dev.data(), pinned, 16, cudaMemcpyHostToDevice, s);
           }) == cudaSuccess &&
               copy == cudaSuccess && dev[0] == 0.0f,
           "a copy from pinned memory is recorded, not run");
    std::string sync, alloc;
    capture([&] {
        sync = error_of([] { cuda::Stream().sync("test"); });
        alloc = error_of([] { cuda::DeviceBuffer(64, "test buffer"); });
    });
    expect(sync.find("not permitted when stream is capturing") != std::string::npos,
           "a stream synchronisation is refused: " + sync);
    expect(alloc.find("cudaMalloc for 'test buffer'") != std::string::npos,
           "an allocation is refused: " + alloc);
    cudaFreeHost(pinned);
    std::printf("%s\n", bad ? "FAIL" : "ok");
    return bad;
}

int decode(const std::filesystem::path& tiny, const std::filesystem::path& out) {
    deskpilot::test::cuda::write_bf16_copy(tiny / "model.safetensors",
                                           out / "graph_bf16.safetensors", {});
    const auto ck = std::make_shared<const engine::Checkpoint>(out / "graph_bf16.safetensors");
    const engine::ModelConfig cfg = engine::load_model_config(tiny);
    engine::VlModel cpu(cfg, ck);
    ::setenv("DESKPILOT_CUDA_GRAPHS", "1", 1);
    const auto graphed = cuda::CudaTextModel::upload(cpu.text(), *ck);
    ::unsetenv("DESKPILOT_CUDA_GRAPHS");
    const auto eager = cuda::CudaTextModel::upload(cpu.text(), *ck);
    std::printf("%s (%d layers):\n", engine::architecture_name(cfg.architecture),
                cfg.text.num_layers);
    expect(graphed->graphs() && !eager->graphs(),
           "DESKPILOT_CUDA_GRAPHS=1 turns graphs on; unset, they are off");
    const std::int64_t V = cfg.text.vocab_size;
    std::vector<std::int32_t> ids;
    for (int i = 0; i < 60; ++i) ids.push_back(std::int32_t((i * 37 + 11) % std::min<int>(900, V)));
    for (auto* m : {graphed.get(), eager.get()}) m->reset(96);
    const auto pos = engine::Positions::text(0, std::int64_t(ids.size()));
    const std::vector<float> pg = graphed->forward(ids, pos), pe = eager->forward(ids, pos);
    expect(pg == pe, "prefill (60 tokens, never captured): the same logits");

    // One step on both: logits (forward) on even steps, the token chosen on the device
    // (forward_greedy) on odd ones. The next input is the eager model's choice plus 97 per step
    // (mod the vocabulary): the tiny model's greedy answer repeats one token, and a step that
    // replayed a stale token id must show.
    std::int32_t next = std::int32_t(std::max_element(pe.begin(), pe.end()) - pe.begin());
    int differ = 0;
    std::vector<std::int32_t> choices;
    auto step = [&](int i) {
        const std::int32_t one[1] = {next};
        const auto p = engine::Positions::text(eager->length(), 1);
        if (i % 2 == 0) {
            const std::vector<float> g = graphed->forward(one, p), e = eager->forward(one, p);
            differ += g != e;
            next = std::int32_t(std::max_element(e.begin(), e.end()) - e.begin());
            choices.push_back(next);
        } else {
            const std::int32_t g = graphed->forward_greedy(one, p),
                               e = eager->forward_greedy(one, p);
            differ += g != e;
            next = e;
            choices.push_back(next);
        }
        next = std::int32_t((next + 97 * (i + 1)) % V);
        differ += graphed->length() != eager->length();
    };
    const long l0 = g_graph_launches, i0 = g_graph_instantiations, u0 = g_graph_updates;
    const int steps = 8;  // 60 → 68 cached tokens: split-K goes from 1 to 2 splits at 64
    for (int i = 0; i < steps; ++i) step(i);
    std::printf("  greedy choices:");
    for (std::int32_t t : choices) std::printf(" %d", t);
    std::printf("\n");
    expect(differ == 0, std::to_string(steps) +
                            " decode steps: graphs on and off give the same logits and tokens "
                            "bit for bit (across the split-K grid's growth at 64 cached tokens)");
    const cuda::GraphCounts c = graphed->graph_counts();
    std::printf(
        "  graph: %lld captures, %lld instantiations, %lld updates, %lld launches, %lld "
        "abandoned (emulator: %ld launches, %ld instantiations, %ld updates)\n",
        (long long)c.captures, (long long)c.instantiations, (long long)c.updates,
        (long long)c.launches, (long long)c.abandoned, g_graph_launches - l0,
        g_graph_instantiations - i0, g_graph_updates - u0);
    expect(c.captures == steps - 1 && c.instantiations == 1 && c.updates == steps - 2 &&
               c.launches == steps - 1 && c.abandoned == 0 && g_graph_launches - l0 == steps - 1 &&
               g_graph_instantiations - i0 == 1 && g_graph_updates - u0 == steps - 2,
           "the first decode step eager, then every step captured: one instantiation, then "
           "updates");
    expect(eager->graph_counts().launches == 0 && eager->graph_counts().captures == 0,
           "graphs off: nothing captured");

    // A bad token inside a captured step: its error, the capture given up, the cache unchanged.
    const std::int64_t len = graphed->length();
    const std::int32_t oob[1] = {std::int32_t(V)};
    const std::string e =
        error_of([&] { graphed->forward_greedy(oob, engine::Positions::text(len, 1)); });
    expect(e.find("outside the vocabulary") != std::string::npos && graphed->length() == len &&
               graphed->graph_counts().abandoned == 1,
           "a bad token in a captured step: '" + e + "', the cache keeps its length");
    differ = 0;
    step(0);
    expect(differ == 0, "the next step is the same as without graphs");

    // Rewind (prefix reuse): the next captures read the shorter cache.
    graphed->rewind(len - 3);
    eager->rewind(len - 3);
    differ = 0;
    for (int i = 0; i < 2; ++i) step(i);
    expect(differ == 0, "after a rewind by 3: the same logits and tokens");

    // The unfused kernel sequence: its scratch grows (the capture abandoned, the step eager),
    // then another topology (the update refused: instantiated again).
    graphed->set_fused(false);
    eager->set_fused(false);
    const cuda::GraphCounts before = graphed->graph_counts();
    differ = 0;
    for (int i = 0; i < 3; ++i) step(i);
    const cuda::GraphCounts after = graphed->graph_counts();
    std::printf(
        "  unfused, 3 steps: %lld abandoned, %lld captured, %lld instantiated, %lld updated\n",
        (long long)(after.abandoned - before.abandoned),
        (long long)(after.captures - before.captures),
        (long long)(after.instantiations - before.instantiations),
        (long long)(after.updates - before.updates));
    expect(differ == 0 && after.abandoned - before.abandoned == 1 &&
               after.instantiations - before.instantiations == 1 &&
               after.updates - before.updates == 1,
           "unfused: the same bits; one step eager (scratch grew), then instantiated again "
           "(another topology), then updated");
    std::printf("%s\n", bad ? "FAIL" : "ok");
    return bad;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "refusals" && argc == 2) return refusals();
    if (mode == "decode" && argc == 4) return decode(argv[2], argv[3]);
    std::fprintf(stderr, "usage: graph_check refusals | graph_check decode TINY_DIR OUT_DIR\n");
    return 2;
}
