// The vision towers' tiled attention (segment_attention_flash) against the first implementation
// (segment_attention_reference, three-pass softmax between two GEMMs) on random q/k/v: lengths
// that are and are not multiples of the query block and of every ISA's key tile, head widths 72
// and 80 (Qwen3-VL, Qwen2.5-VL) and odd ones, one segment and several (incl. an empty one), for
// each kernel copy the CPU can run. And a StopScope stops it with Stopped, the pool still usable.
#include <QtTest>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <random>
#include <vector>

#include "model/engine/cpu/linear.h"
#include "model/engine/cpu/thread_pool.h"
#include "model/engine/vision/vision_blocks.h"

using namespace deskpilot::model::engine;

namespace {

struct Case {
    std::int64_t S, heads, hd;
    std::vector<std::int64_t> segments;
};

struct Inputs {
    std::vector<float> qkv, cos, sin;
};

Inputs random_inputs(const Case& c, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> n(0.0f, 1.5f);  // spread scores: peaked softmax rows too
    std::uniform_real_distribution<float> angle(-3.0f, 3.0f);
    Inputs in;
    in.qkv.resize(std::size_t(c.S * 3 * c.heads * c.hd));
    for (float& x : in.qkv) x = n(rng);
    in.cos.resize(std::size_t(c.S * c.hd / 2));
    in.sin.resize(in.cos.size());
    for (std::size_t i = 0; i < in.cos.size(); ++i) {
        const float a = angle(rng);
        in.cos[i] = std::cos(a);
        in.sin[i] = std::sin(a);
    }
    return in;
}

}  // namespace

class VisionAttentionTest : public QObject {
    Q_OBJECT
  private slots:
    void flashMatchesReference() {
        cpu::ThreadPool pool(3);
        const std::vector<Case> cases = {
            {1, 2, 72, {0, 1}},
            {5, 1, 72, {0, 5}},
            {64, 2, 72, {0, 64}},
            {100, 3, 72, {0, 100}},
            {300, 2, 80, {0, 300}},
            {129, 2, 80, {0, 64, 64, 100, 129}},  // an empty segment
            {200, 2, 72, {0, 17, 81, 145, 200}},  // Qwen2.5-VL-like windows
            {77, 2, 40, {0, 77}},
            {90, 1, 6, {0, 90}},  // head_dim below one vector
            {1030, 2, 72, {0, 1030}},
        };
        std::vector<cpu::Isa> isas = {cpu::Isa::scalar};
        for (cpu::Isa i : {cpu::Isa::avx2, cpu::Isa::avx512})
            if (cpu::isa_supported(i)) isas.push_back(i);
        unsigned seed = 1;
        for (const Case& c : cases) {
            const Inputs in = random_inputs(c, seed++);
            std::vector<float> qkv_ref = in.qkv;
            std::vector<float> want(std::size_t(c.S * c.heads * c.hd), NAN);
            vblocks::segment_attention_reference(qkv_ref.data(), c.S, c.heads, c.hd, in.cos, in.sin,
                                                 c.segments, want.data(), pool);
            for (cpu::Isa isa : isas) {
                std::vector<float> qkv = in.qkv;
                std::vector<float> got(want.size(), NAN);
                vblocks::segment_attention_flash(qkv.data(), c.S, c.heads, c.hd, in.cos, in.sin,
                                                 c.segments, got.data(), pool, isa);
                QCOMPARE(qkv, qkv_ref);  // rotated in place the same way
                double worst = 0;
                for (std::size_t i = 0; i < want.size(); ++i) {
                    QVERIFY2(std::isfinite(got[i]), "non-finite output");
                    worst = std::max(worst, std::abs(double(got[i]) - want[i]) /
                                                (1e-5 + 1e-5 * std::abs(double(want[i]))));
                }
                if (worst > 1.0)
                    QFAIL(qPrintable(QString("S=%1 hd=%2 isa=%3: error %4 x tolerance")
                                         .arg(c.S)
                                         .arg(c.hd)
                                         .arg(cpu::isa_name(isa))
                                         .arg(worst)));
            }
        }
    }

    void staleScratchChangesNothing() {
        // A tower passes its Workspace, which holds the last call's keys and values (a longer
        // image's, perhaps). Filled with NaN, then used for windows whose lengths are not whole
        // key tiles: the output must be bit for bit a fresh call's, on every kernel copy.
        cpu::ThreadPool pool(3);
        const Case c{200, 2, 72, {0, 17, 81, 145, 200}};
        const Inputs in = random_inputs(c, 11);
        std::vector<cpu::Isa> isas = {cpu::Isa::scalar};
        for (cpu::Isa i : {cpu::Isa::avx2, cpu::Isa::avx512})
            if (cpu::isa_supported(i)) isas.push_back(i);
        for (cpu::Isa isa : isas) {
            std::vector<float> qkv = in.qkv, want(std::size_t(c.S * c.heads * c.hd));
            vblocks::segment_attention_flash(qkv.data(), c.S, c.heads, c.hd, in.cos, in.sin,
                                             c.segments, want.data(), pool, isa);
            vblocks::Workspace stale;
            for (std::size_t slot : {0, 1}) std::fill_n(stale.floats(slot, 1 << 16), 1 << 16, NAN);
            qkv = in.qkv;
            std::vector<float> got(want.size());
            vblocks::segment_attention_flash(qkv.data(), c.S, c.heads, c.hd, in.cos, in.sin,
                                             c.segments, got.data(), pool, isa, &stale);
            QVERIFY2(got == want, cpu::isa_name(isa));
            QCOMPARE(stale.bytes(), std::size_t(2 << 16) * sizeof(float));  // used, not grown
        }
    }

    void stopScopeStopsIt() {
        cpu::ThreadPool pool(2);
        const Case c{600, 4, 72, {0, 600}};
        Inputs in = random_inputs(c, 7);
        std::vector<float> out(std::size_t(c.S * c.heads * c.hd));
        bool stopped = false;
        {
            std::atomic<int> checks{0};  // stop once the key/query jobs are under way
            cpu::StopScope scope([&] { return ++checks > 20; });
            try {
                vblocks::segment_attention_flash(in.qkv.data(), c.S, c.heads, c.hd, in.cos, in.sin,
                                                 c.segments, out.data(), pool, cpu::best_isa());
            } catch (const cpu::Stopped&) {
                stopped = true;
            }
        }
        QVERIFY(stopped);
        std::atomic<std::int64_t> runs{0};  // the pool still works after the stop
        pool.parallel_for(10, 1, [&](std::int64_t a, std::int64_t b) { runs += b - a; });
        QCOMPARE(runs.load(), std::int64_t(10));
    }
};

QTEST_APPLESS_MAIN(VisionAttentionTest)
#include "test_vision_attention.moc"
