// The decode step as a CUDA graph (DESKPILOT_CUDA_GRAPHS, model/engine/cuda/graph.h) on the host
// emulator (see run.sh): text_model.cpp's real host code over the emulated kernels, with
// cuda_runtime.h's stream capture (launches, copies and cuBLAS calls recorded, replayed by a
// graph launch; a sync, an allocation or a pageable copy inside a capture refused).
//   refusals: the emulator refuses what a real capture refuses (else the check below proves
//     nothing about the step synchronising or allocating).
//   decode TINY_DIR OUT_DIR: two decoders on the bf16 copy of a tiny checkpoint, graphs off and
//     on, decode greedily from a 60-token prompt past 64 cached tokens (the split-K count
//     changes): logits and tokens bit for bit the same, with the step captured once (one
//     instantiation) and then replayed with no capture; a bad token and a full cache on a
//     replayed step are the eager step's errors and leave the cache as it was; a rewind; a reset
//     and a new prompt (still replayed); then the unfused kernel sequence (a scratch buffer
//     grows: the capture is abandoned and the step run eagerly; then another topology: captured
//     and instantiated again, then replayed) and back, still the same bits.
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
    ::setenv("DESKPILOT_CUDA_GRAPHS", "0", 1);
    const auto eager = cuda::CudaTextModel::upload(cpu.text(), *ck);
    ::unsetenv("DESKPILOT_CUDA_GRAPHS");
    std::printf("%s (%d layers):\n", engine::architecture_name(cfg.architecture),
                cfg.text.num_layers);
    expect(graphed->graphs() && !eager->graphs(),
           "DESKPILOT_CUDA_GRAPHS=1 turns graphs on; =0, off");
    const std::int64_t V = cfg.text.vocab_size, cap = 72;
    std::vector<std::int32_t> ids;
    for (int i = 0; i < 60; ++i) ids.push_back(std::int32_t((i * 37 + 11) % std::min<int>(900, V)));
    for (auto* m : {graphed.get(), eager.get()}) m->reset(cap);
    const auto pos = engine::Positions::text(0, std::int64_t(ids.size()));
    const std::vector<float> pg = graphed->forward(ids, pos), pe = eager->forward(ids, pos);
    expect(pg == pe, "prefill (60 tokens, never captured): the same logits");

    // One step on both: logits (forward) on even steps, the token chosen on the device
    // (forward_greedy) on odd ones. The next input is the eager model's choice plus 97 per step
    // (mod the vocabulary): the tiny model's greedy answer repeats one token, and a step that
    // replayed a stale token id (or KV length: the cache row it writes, the keys it reads) must
    // show.
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
    auto print_counts = [](const char* what, const cuda::GraphCounts& c) {
        std::printf(
            "  %s: %lld captures, %lld instantiations, %lld updates, %lld launches, %lld replays, "
            "%lld abandoned\n",
            what, (long long)c.captures, (long long)c.instantiations, (long long)c.updates,
            (long long)c.launches, (long long)c.replays, (long long)c.abandoned);
    };
    auto minus = [](cuda::GraphCounts a, const cuda::GraphCounts& b) {
        a.captures -= b.captures;
        a.instantiations -= b.instantiations;
        a.updates -= b.updates;
        a.launches -= b.launches;
        a.replays -= b.replays;
        a.abandoned -= b.abandoned;
        return a;
    };
    const long l0 = g_graph_launches, i0 = g_graph_instantiations, u0 = g_graph_updates;
    const int steps = 10;  // 60 → 70 cached tokens: split-K goes from 1 to 2 splits at 64
    for (int i = 0; i < steps; ++i) step(i);
    std::printf("  greedy choices:");
    for (std::int32_t t : choices) std::printf(" %d", t);
    std::printf("\n");
    expect(differ == 0, std::to_string(steps) +
                            " decode steps: graphs on and off give the same logits and tokens "
                            "bit for bit (across the split-K grid's growth at 64 cached tokens)");
    const cuda::GraphCounts c = graphed->graph_counts();
    print_counts("graph", c);
    std::printf("  emulator: %ld graph launches, %ld instantiations, %ld updates\n",
                g_graph_launches - l0, g_graph_instantiations - i0, g_graph_updates - u0);
    expect(c.captures == 1 && c.instantiations == 1 && c.updates == 0 && c.replays == steps - 2 &&
               c.launches == steps - 1 && c.abandoned == 0 && g_graph_launches - l0 == steps - 1 &&
               g_graph_instantiations - i0 == 1 && g_graph_updates - u0 == 0,
           "the first decode step eager, the second captured (one instantiation), then " +
               std::to_string(steps - 2) + " replays with no capture");
    expect(eager->graph_counts().launches == 0 && eager->graph_counts().captures == 0,
           "graphs off: nothing captured");

    // A bad token and a full cache on a replayed step: the eager step's error, nothing launched,
    // the cache keeps its length.
    auto refused = [&](const std::int32_t id, const char* needle, const char* what) {
        const std::int64_t len = graphed->length();
        const cuda::GraphCounts before = graphed->graph_counts();
        const long launched = g_graph_launches;
        const std::int32_t one[1] = {id};
        const auto p = engine::Positions::text(len, 1);
        const std::string g = error_of([&] { graphed->forward_greedy(one, p); }),
                          e = error_of([&] { eager->forward_greedy(one, p); });
        const cuda::GraphCounts d = minus(graphed->graph_counts(), before);
        expect(g.find(needle) != std::string::npos && g == e && graphed->length() == len &&
                   eager->length() == len && d.captures == 0 && d.launches == 0 &&
                   d.abandoned == 0 && g_graph_launches == launched,
               std::string(what) + " with graphs on: '" + g +
                   "' (as with graphs off), nothing captured or launched, the cache keeps " +
                   std::to_string(len) + " tokens");
    };
    refused(std::int32_t(V), "outside the vocabulary", "a bad token");
    differ = 0;
    step(0);
    expect(differ == 0, "the next step (replayed) is the same as without graphs");

    // Rewind (prefix reuse): the replays read the shorter cache.
    graphed->rewind(graphed->length() - 3);
    eager->rewind(eager->length() - 3);
    differ = 0;
    for (int i = 0; i < 2; ++i) step(i);
    expect(differ == 0, "after a rewind by 3: the same logits and tokens");

    // Fill the cache: the step after is the capacity error.
    differ = 0;
    while (eager->length() < cap) step(int(eager->length()));
    expect(differ == 0 && graphed->length() == cap, "up to a full cache: the same bits");
    refused(next, "do not fit", "a full cache");
    expect(graphed->graph_counts().captures == 1 && graphed->graph_counts().instantiations == 1,
           "still one capture and one instantiation (" +
               std::to_string(graphed->graph_counts().replays) + " replays)");

    // A new prompt in the same cache (reset without growing: no buffer moves): replayed.
    for (auto* m : {graphed.get(), eager.get()}) m->reset(cap);
    const std::vector<std::int32_t> shorter(ids.begin(), ids.begin() + 8);
    const auto p8 = engine::Positions::text(0, 8);
    const std::vector<float> rg = graphed->forward(shorter, p8), re = eager->forward(shorter, p8);
    next = std::int32_t(std::max_element(re.begin(), re.end()) - re.begin());
    cuda::GraphCounts before = graphed->graph_counts();
    differ = rg != re;
    for (int i = 0; i < 2; ++i) step(i);
    cuda::GraphCounts d = minus(graphed->graph_counts(), before);
    expect(differ == 0 && d.captures == 0 && d.replays == 2,
           "reset and an 8-token prompt: the same bits, both steps replayed");

    // The unfused kernel sequence: its scratch grows (the capture abandoned, the step eager),
    // then another topology (the update refused: instantiated again), then replays. Back to the
    // fused sequence: captured and instantiated again, then replays.
    for (auto* m : {graphed.get(), eager.get()}) m->set_fused(false);
    before = graphed->graph_counts();
    differ = 0;
    for (int i = 0; i < 3; ++i) step(i);
    d = minus(graphed->graph_counts(), before);
    print_counts("unfused, 3 steps", d);
    expect(differ == 0 && d.abandoned == 1 && d.captures == 1 && d.instantiations == 1 &&
               d.updates == 0 && d.replays == 1,
           "unfused: the same bits; one step eager (scratch grew), then captured and instantiated "
           "again (another topology), then replayed");
    for (auto* m : {graphed.get(), eager.get()}) m->set_fused(true);
    before = graphed->graph_counts();
    differ = 0;
    for (int i = 0; i < 3; ++i) step(i);
    d = minus(graphed->graph_counts(), before);
    print_counts("fused again, 3 steps", d);
    expect(differ == 0 && d.abandoned == 0 && d.captures == 1 && d.instantiations == 1 &&
               d.replays == 2,
           "fused again: the same bits; captured and instantiated once, then replayed");
    print_counts("graph, in all", graphed->graph_counts());
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
