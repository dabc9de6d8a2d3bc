// The CPU Qwen3-VL-MoE text decoder against transformers (tools/golden/qwen3_vl_moe_golden.py):
// per-layer hidden states, chosen experts, prefill logits and three KV-cached decode steps, in
// f32 (fused experts, model.language_model.* names) and bf16 (per-expert, model.* names). Also
// the AVX2 kernels against their scalar twins, and broken checkpoints.
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <bit>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "model/engine/arch/qwen3_vl_moe.h"
#include "model/engine/cpu/gemm_bf16.h"
#include "model/engine/cpu/linear.h"

using namespace deskpilot::model::engine;
namespace fs = std::filesystem;

namespace {

const fs::path kDir = fs::path(DESKPILOT_TEST_DATA_DIR) / "engine/qwen3_vl_moe_tiny";

struct Golden {
    Checkpoint ck{kDir / "golden.safetensors"};
    std::vector<float> get(const std::string& name) const {
        const Tensor t = ck.get(name).to_f32();
        return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
    }
    std::vector<std::int32_t> ids(const std::string& name) const {
        std::vector<std::int32_t> out;
        for (float f : get(name)) out.push_back(std::int32_t(f));
        return out;
    }
    Positions positions(const std::string& name) const {
        const auto p = get(name);
        const std::size_t n = p.size() / 3;
        Positions out;
        for (std::size_t i = 0; i < n; ++i) {
            out.t.push_back(std::int64_t(p[i]));
            out.h.push_back(std::int64_t(p[n + i]));
            out.w.push_back(std::int64_t(p[2 * n + i]));
        }
        return out;
    }
};

// Largest |a - b| relative to the reference's scale, and the largest elementwise violation of
// |a - b| <= rtol·|b| + atol.
bool close(const float* a, const std::vector<float>& b, double rtol, double atol_scale,
           std::string& why) {
    double scale = 0;
    for (float v : b) scale = std::max(scale, double(std::fabs(v)));
    const double atol = atol_scale * std::max(scale, 1.0);
    for (std::size_t i = 0; i < b.size(); ++i) {
        const double d = std::fabs(double(a[i]) - double(b[i]));
        if (!(d <= rtol * std::fabs(double(b[i])) + atol)) {
            why = "element " + std::to_string(i) + ": " + std::to_string(a[i]) + " vs " +
                  std::to_string(b[i]) + " (scale " + std::to_string(scale) + ")";
            return false;
        }
    }
    return true;
}

struct Captured {
    std::map<std::string, std::vector<float>> t;
    Trace trace() {
        return [this](const std::string& name, int layer, const float* d, std::int64_t r,
                      std::int64_t c) {
            t[name + "." + std::to_string(layer)] = std::vector<float>(d, d + r * c);
        };
    }
};

void check_model(Qwen3MoeTextModel& m, double rtol, double atol_scale, bool check_layers) {
    const Golden g;
    const auto ids = g.ids("ids");
    KvCache kv = m.new_cache(8);  // small on purpose: the cache must grow
    Captured cap;
    const auto logits = m.forward(ids, g.positions("positions"), kv, true, cap.trace());
    std::string why;
    const int L = m.config().text.num_layers;
    for (int l = 0; l < L; ++l) {
        // Same experts, in the same order, for every token.
        QVERIFY2(cap.t["topk." + std::to_string(l)] == g.get("topk." + std::to_string(l)),
                 qPrintable("layer " + QString::number(l) + " chose different experts"));
        if (!check_layers) continue;
        QVERIFY2(close(cap.t["hidden_in." + std::to_string(l)].data(),
                       g.get("hidden." + std::to_string(l)), rtol, atol_scale, why),
                 qPrintable(QString("hidden.%1 %2").arg(l).arg(why.c_str())));
        QVERIFY2(close(cap.t["hidden_out." + std::to_string(l)].data(),
                       g.get("hidden." + std::to_string(l + 1)), rtol, atol_scale, why),
                 qPrintable(QString("hidden.%1 %2").arg(l + 1).arg(why.c_str())));
    }
    QVERIFY2(close(logits.data(), g.get("logits"), rtol, atol_scale, why),
             qPrintable("prefill logits " + QString(why.c_str())));
    for (int s = 0; s < 3; ++s) {
        const std::string p = "step." + std::to_string(s) + ".";
        const auto step = m.forward(g.ids(p + "id"), g.positions(p + "position"), kv, false);
        QVERIFY2(close(step.data(), g.get(p + "logits"), rtol, atol_scale, why),
                 qPrintable(QString::fromStdString(p + " " + why)));
    }
    QCOMPARE(kv.length, std::int64_t(ids.size() + 3));
}

std::unique_ptr<Qwen3MoeTextModel> load(const fs::path& dir,
                                        deskpilot::model::engine::cpu::ThreadPool& pool) {
    return std::make_unique<Qwen3MoeTextModel>(load_model_config(dir),
                                               std::make_shared<Checkpoint>(dir), pool);
}

}  // namespace

class Qwen3MoeTest : public QObject {
    Q_OBJECT
    cpu::ThreadPool pool_{2};

  private slots:
    void f32MatchesTransformers() {
        auto m = load(kDir, pool_);
        QVERIFY(m->fused_experts());
        QCOMPARE(m->tensor_prefix(), std::string("model.language_model."));
        check_model(*m, 1e-4, 1e-5, true);
    }

    void bf16PerExpertWithinBf16Tolerance() {
        auto m = load(kDir / "bf16", pool_);
        QVERIFY(!m->fused_experts());
        QCOMPARE(m->tensor_prefix(), std::string("model."));
        // bf16 keeps 8 bits of mantissa: a few percent of the activations' scale.
        check_model(*m, 5e-2, 3e-2, true);
    }

    void singleThreadGivesTheSameResult() {
        cpu::ThreadPool one(1);
        auto m = load(kDir, one);
        check_model(*m, 1e-4, 1e-5, false);
    }

    // Prefill groups tokens by expert: every chosen expert runs once per layer, on exactly the
    // tokens that chose it (a per-token loop would read its weights once per token).
    void eachChosenExpertRunsOncePerLayer() {
        for (const fs::path& dir : {kDir, kDir / "bf16"}) {
            auto m = load(dir, pool_);
            const Golden g;
            const auto ids = g.ids("ids");
            KvCache kv = m->new_cache(64);
            std::map<int, std::vector<float>> topk;
            std::map<int, std::vector<std::pair<int, int>>> passes;
            m->forward(ids, g.positions("positions"), kv, false,
                       [&](const std::string& name, int layer, const float* d, std::int64_t r,
                           std::int64_t c) {
                           if (name == "topk") topk[layer].assign(d, d + r * c);
                           if (name == "expert_rows")
                               passes[layer].push_back({int(d[0]), int(d[1])});
                       });
            const int L = m->config().text.num_layers;
            QCOMPARE(int(passes.size()), L);
            for (int l = 0; l < L; ++l) {
                std::map<int, int> want;
                for (float e : topk[l]) ++want[int(e)];
                std::map<int, int> got;
                for (auto [e, rows] : passes[l]) {
                    QVERIFY2(!got.count(e),
                             qPrintable(QString("layer %1 ran expert %2 twice").arg(l).arg(e)));
                    got[e] = rows;
                }
                QCOMPARE(got, want);
            }
        }
    }

    void unselectedExpertsAreNeverRead() {
        // Poison every expert of layer 0 that the first token does not choose with NaN and run
        // that token alone: the logits must not change, which fails if the block computes
        // experts it did not select (NaN times a zero weight is still NaN).
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        fs::copy_file(kDir / "bf16/config.json", dir / "config.json");
        fs::copy_file(kDir / "bf16/model.safetensors", dir / "model.safetensors");
        fs::permissions(dir / "model.safetensors", fs::perms::owner_read | fs::perms::owner_write);
        const Golden g;
        std::vector<bool> used(8, false);
        const auto topk = g.get("topk.0");
        used[std::size_t(topk[0])] = used[std::size_t(topk[1])] = true;
        int poisoned = 0;
        {
            SafetensorsFile f(dir / "model.safetensors");
            std::fstream io(dir / "model.safetensors",
                            std::ios::in | std::ios::out | std::ios::binary);
            std::uint64_t header_len = 0;
            io.read(reinterpret_cast<char*>(&header_len), 8);
            for (const auto& e : f.entries()) {
                for (int x = 0; x < 8; ++x) {
                    if (used[std::size_t(x)] ||
                        e.name.rfind("model.layers.0.mlp.experts." + std::to_string(x) + ".", 0) !=
                            0)
                        continue;
                    io.seekp(std::streamoff(8 + header_len + e.begin));
                    for (std::uint64_t b = e.begin; b < e.end; b += 2)
                        io.write("\xc0\x7f", 2);  // bf16 NaN
                    ++poisoned;
                }
            }
        }
        QVERIFY(poisoned > 0);
        const std::vector<std::int32_t> first = {g.ids("ids")[0]};
        auto clean = load(kDir / "bf16", pool_);
        auto poisoned_model = load(dir, pool_);
        KvCache kv1 = clean->new_cache(), kv2 = poisoned_model->new_cache();
        const auto want = clean->forward(first, Positions::text(0, 1), kv1);
        const auto got = poisoned_model->forward(first, Positions::text(0, 1), kv2);
        QCOMPARE(got, want);
    }

    void brokenCheckpoints() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        // A config that disagrees with the weights names the first tensor that does not fit.
        {
            ModelConfig c = load_model_config(kDir);
            c.text.moe_intermediate_size = 40;
            try {
                Qwen3MoeTextModel m(c, std::make_shared<Checkpoint>(kDir), pool_);
                QFAIL("mismatched checkpoint accepted");
            } catch (const CheckpointError& e) {
                const std::string msg = e.what();
                QVERIFY2(msg.find("model.language_model.layers.0.mlp.experts.gate_up_proj") !=
                             std::string::npos,
                         e.what());
                QVERIFY2(msg.find("[8, 64, 80]") != std::string::npos, e.what());
            }
        }
        // A missing tensor is named.
        {
            ModelConfig c = load_model_config(kDir);
            c.text.num_layers = 5;
            try {
                Qwen3MoeTextModel m(c, std::make_shared<Checkpoint>(kDir), pool_);
                QFAIL("missing layer accepted");
            } catch (const CheckpointError& e) {
                QVERIFY2(std::string(e.what()).find(
                             "'model.language_model.layers.4.input_layernorm.weight' is missing") !=
                             std::string::npos,
                         e.what());
            }
        }
        // Not a Qwen3 MoE checkpoint at all.
        {
            std::ofstream(dir / "x.safetensors", std::ios::binary)
                .write("\x02\0\0\0\0\0\0\0{}", 10);
            QVERIFY_THROWS_EXCEPTION(
                CheckpointError,
                Qwen3MoeTextModel(load_model_config(kDir),
                                  std::make_shared<Checkpoint>(dir / "x.safetensors"), pool_));
        }
        // Bad token ids and position counts are errors, not crashes.
        auto m = load(kDir, pool_);
        KvCache kv = m->new_cache();
        const std::vector<std::int32_t> bad = {5, 1024};
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, m->forward(bad, Positions::text(0, 2), kv));
        const std::vector<std::int32_t> ok = {5, 6};
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, m->forward(ok, Positions::text(0, 3), kv));
    }

    void attentionMatchesItsReference() {
        std::mt19937 rng(3);
        std::normal_distribution<float> nd;
        // 8 heads over 2 KV heads, 300 queries after 45 cached keys: several query blocks.
        const std::int64_t heads = 8, kvh = 2, d = 32, past = 45, S = 300, cap = 400;
        std::vector<float> q(std::size_t(S * heads * d)), k(std::size_t(kvh * cap * d)),
            v(k.size());
        for (auto* vec : {&q, &k, &v})
            for (auto& x : *vec) x = nd(rng);
        std::vector<float> a(q.size()), b(q.size());
        cpu::attention_reference(q.data(), S, past, heads, kvh, d, k.data(), v.data(), cap, 0.17f,
                                 a.data(), pool_);
        cpu::attention(q.data(), S, past, heads, kvh, d, k.data(), v.data(), cap, 0.17f, b.data(),
                       pool_);
        std::string why;
        QVERIFY2(close(b.data(), a, 1e-4, 1e-5, why), why.c_str());
    }

    // The vectorised element-wise ops against their scalar formulas: every length from 1 to 40
    // (whole vectors and tails), values up to |x| = 100 (e^x clamped at both ends).
    void vectorOpsMatchScalarFormulas() {
        std::mt19937 rng(4);
        std::normal_distribution<float> nd(0.0f, 4.0f);
        for (std::int64_t n = 1; n <= 40; ++n) {
            std::vector<float> g(static_cast<std::size_t>(n));
            std::vector<float> u(g.size()), want(g.size()), got(g.size());
            for (std::size_t i = 0; i < g.size(); ++i) {
                g[i] = i % 7 == 3 ? (i % 2 ? 100.0f : -100.0f) : nd(rng);
                u[i] = nd(rng);
                want[i] = cpu::silu(g[i]) * u[i];
            }
            cpu::silu_mul(g.data(), u.data(), got.data(), n);
            std::string why;
            QVERIFY2(close(got.data(), want, 1e-6, 1e-7, why), why.c_str());

            std::vector<float> s(g);
            const float scale = 0.3f;
            float mx = -INFINITY;
            for (float x : g) mx = std::max(mx, x * scale);
            double sum = 0.0;
            for (std::size_t i = 0; i < g.size(); ++i) sum += want[i] = std::exp(g[i] * scale - mx);
            for (auto& x : want) x = float(x / sum);
            cpu::softmax_scaled(s.data(), n, scale);
            QVERIFY2(close(s.data(), want, 1e-6, 1e-7, why), why.c_str());
        }
    }

    void kernelsMatchTheirScalarTwins_data() {
        QTest::addColumn<int>("dtype");
        QTest::addColumn<int>("layout");
        QTest::addColumn<int>("M");
        QTest::addColumn<int>("cols");
        // 77 columns (a 71-wide slice) and 221 (215 = 128 + 64 + 16 + 7: every block width of
        // the single-row in_out kernels, 64 + 8 for AVX2, and a scalar tail).
        for (int d = 0; d < 3; ++d)
            for (int l = 0; l < 2; ++l)
                for (int M : {1, 3, 4, 6, 7, 9, 10, 11, 14})
                    for (int cols : {77, 221})
                        QTest::addRow("dtype%d layout%d M%d cols%d", d, l, M, cols)
                            << d << l << M << cols;
        // Prefill shapes: several 8-row in_out tiles, and out_in activation chunks (32 rows at
        // K = 4096) with a partial last chunk.
        for (int l = 0; l < 2; ++l)
            QTest::addRow("bf16 layout%d M45 cols4102", l) << int(DType::BF16) << l << 45 << 4102;
        // Decode over wide column ranges (the blocked, prefetching in_out GEMV): 994 columns
        // (7 groups of 128 and a 98-column tail), 4096 (whole groups), two blocks of rows.
        for (int d = 0; d < 3; ++d)
            for (int cols : {1000, 4102})
                QTest::addRow("dtype%d layout1 M1 cols%d", d, cols) << d << 1 << 1 << cols;
    }

    void kernelsMatchTheirScalarTwins() {
        QFETCH(int, dtype);
        QFETCH(int, layout);
        QFETCH(int, M);
        QFETCH(int, cols);
        const DType dt = DType(dtype);
        // Odd sizes exercise every tail; a column slice exercises strided rows.
        const std::int64_t rows = 37;
        Tensor w = Tensor::zeros(dt, {rows, cols});
        std::mt19937 rng(1);
        std::normal_distribution<float> nd;
        for (std::int64_t i = 0; i < rows * cols; ++i) {
            const float v = nd(rng);
            if (dt == DType::F32)
                w.data<float>()[i] = v;
            else if (dt == DType::BF16)
                w.data<std::uint16_t>()[i] = f32_to_bf16(v);
            else
                w.data<std::uint16_t>()[i] = f32_to_f16(v);
        }
        const auto view = cpu::WeightView::of(w, cpu::Layout(layout)).cols_slice(3, cols - 3);
        std::vector<float> x(std::size_t(M * view.in_features()));
        for (auto& v : x) v = nd(rng);
        std::vector<float> a(std::size_t(M * view.out_features())), b(a.size());
        cpu::linear(x.data(), M, view, a.data(), pool_, cpu::Isa::scalar);
        int checked = 0;
        for (auto isa : {cpu::Isa::avx2, cpu::Isa::avx512}) {
            if (!cpu::isa_supported(isa)) continue;
            cpu::linear(x.data(), M, view, b.data(), pool_, isa);
            std::string why;
            QVERIFY2(close(b.data(), a, 1e-5, 1e-5, why),
                     (std::string(cpu::isa_name(isa)) + ": " + why).c_str());
            ++checked;
        }
        if (checked == 0) QSKIP("no SIMD kernels run on this CPU");
    }

    void bf16ActivationKernelsMatchTheirScalarTwin_data() {
        QTest::addColumn<int>("layout");
        QTest::addColumn<int>("M");
        QTest::addColumn<int>("rows");
        QTest::addColumn<int>("cols");
        // Stored [rows, cols], sliced to cols - 6: out_in K = 58 (32 + a 26 tail), 64 (two full
        // steps), 215; in_out N = 58 (a full tile and a masked one), 64, 215, and K = 37 (odd:
        // the last row pairs with zeros), 64 or 301 (three k blocks of 128, the last odd). M
        // covers every row tile height (4 out_in, 12 in_out) and their remainders, and
        // activation chunks at K = 4096.
        for (int l = 0; l < 2; ++l)
            for (int M : {1, 2, 3, 4, 5, 7, 11, 12, 13, 25, 30})
                for (int rows : {37, 64, 301})
                    for (int cols : {64, 70, 221})
                        QTest::addRow("layout%d M%d rows%d cols%d", l, M, rows, cols)
                            << l << M << rows << cols;
        for (int l = 0; l < 2; ++l)
            QTest::addRow("layout%d M45 rows37 cols4102", l) << l << 45 << 37 << 4102;
    }

    // The AVX512_BF16 kernels round the activations exactly as their scalar twin (half of them
    // are exact ties between two bf16 values, where truncation or round-half-up would differ)
    // and multiply exactly (bf16 x bf16 fits fp32): only the fp32 summation order may differ.
    void bf16ActivationKernelsMatchTheirScalarTwin() {
        QFETCH(int, layout);
        QFETCH(int, M);
        QFETCH(int, rows);
        QFETCH(int, cols);
        if (!cpu::cpu_has_avx512_bf16()) QSKIP("this CPU has no AVX512_BF16");
        Tensor w = Tensor::zeros(DType::BF16, {rows, cols});
        std::mt19937 rng(2);
        std::normal_distribution<float> nd;
        for (std::int64_t i = 0; i < std::int64_t(rows) * cols; ++i)
            w.data<std::uint16_t>()[i] = f32_to_bf16(nd(rng));
        const auto view = cpu::WeightView::of(w, cpu::Layout(layout)).cols_slice(3, cols - 3);
        std::vector<float> x(std::size_t(M * view.in_features()));
        for (std::size_t i = 0; i < x.size(); ++i) {
            x[i] = nd(rng);
            if (i % 2 == 0)  // exactly halfway between two bf16 values
                x[i] = std::bit_cast<float>((std::uint32_t(f32_to_bf16(x[i])) << 16) | 0x8000u);
        }
        std::vector<float> a(std::size_t(M * view.out_features())), b(a.size()), c(a.size());
        cpu::linear_bf16_activations(x.data(), M, view, a.data(), pool_, false);
        cpu::linear_bf16_activations(x.data(), M, view, b.data(), pool_, true);
        std::string why;
        QVERIFY2(close(b.data(), a, 1e-5, 1e-6, why), why.c_str());
        // linear() takes this path from kBf16MinRows rows and keeps f32 activations below.
        cpu::linear(x.data(), M, view, c.data(), pool_, cpu::Isa::avx512bf16);
        std::vector<float> d(a.size());
        if (M >= cpu::kBf16MinRows) {
            QVERIFY(std::equal(c.begin(), c.end(), b.begin()));
        } else {
            cpu::linear(x.data(), M, view, d.data(), pool_, cpu::Isa::avx512);
            QVERIFY(std::equal(c.begin(), c.end(), d.begin()));
        }
        // And it is not the f32-activation product: the rounding shows.
        cpu::linear(x.data(), M, view, d.data(), pool_, cpu::Isa::scalar);
        QVERIFY(!close(a.data(), d, 1e-5, 1e-6, why));
    }

    void bf16ActivationsRefuseOtherWeights() {
        Tensor w = Tensor::zeros(DType::F32, {8, 8});
        std::vector<float> x(8), y(8);
        try {
            cpu::linear_bf16_activations(x.data(), 1, cpu::WeightView::of(w, cpu::Layout::out_in),
                                         y.data(), pool_, false);
            QFAIL("f32 weights accepted");
        } catch (const std::invalid_argument& e) {
            QVERIFY(std::string(e.what()).find("must be bf16") != std::string::npos);
        }
    }

    // Long-prompt GEMMs run as bounded tiles (row blocks by column slabs) so a stop is seen
    // within a few ms; every kernel, tiled, still gives the plain dot products. Shapes: out_in
    // with 300 rows at K = 4096 (two row blocks, 120 and 180 rows), in_out with 4000 rows at
    // K = 37 and 4096 columns (one row block, slabs of 192 columns, a partial last one).
    void tiledGemmsMatchPlainDotProducts_data() {
        QTest::addColumn<int>("layout");
        QTest::addColumn<int>("M");
        QTest::addColumn<int>("rows");
        QTest::addColumn<int>("cols");
        QTest::addRow("out_in M300") << int(cpu::Layout::out_in) << 300 << 37 << 4102;
        QTest::addRow("in_out M4000") << int(cpu::Layout::in_out) << 4000 << 37 << 4102;
    }

    void tiledGemmsMatchPlainDotProducts() {
        QFETCH(int, layout);
        QFETCH(int, M);
        QFETCH(int, rows);
        QFETCH(int, cols);
        Tensor w = Tensor::zeros(DType::BF16, {rows, cols});
        std::mt19937 rng(2);
        std::normal_distribution<float> nd;
        for (std::int64_t i = 0; i < std::int64_t(rows) * cols; ++i)
            w.data<std::uint16_t>()[i] = f32_to_bf16(nd(rng));
        const auto view = cpu::WeightView::of(w, cpu::Layout(layout)).cols_slice(3, cols - 3);
        const std::int64_t K = view.in_features(), N = view.out_features();
        std::vector<float> x(std::size_t(M * K));
        for (auto& v : x) v = nd(rng);
        std::vector<float> want(std::size_t(M * N));
        for (std::int64_t m = 0; m < M; ++m)
            for (std::int64_t n = 0; n < N; ++n) {
                double acc = 0;
                for (std::int64_t k = 0; k < K; ++k) {
                    const std::int64_t r = layout == int(cpu::Layout::out_in) ? n : k,
                                       c = layout == int(cpu::Layout::out_in) ? k : n;
                    acc += double(x[std::size_t(m * K + k)]) *
                           double(bf16_to_f32(w.data<std::uint16_t>()[r * cols + 3 + c]));
                }
                want[std::size_t(m * N + n)] = float(acc);
            }
        std::vector<float> got(want.size());
        for (auto isa : {cpu::Isa::scalar, cpu::Isa::avx2, cpu::Isa::avx512}) {
            if (!cpu::isa_supported(isa)) continue;
            std::fill(got.begin(), got.end(), NAN);
            cpu::linear(x.data(), M, view, got.data(), pool_, isa);
            std::string why;
            QVERIFY2(close(got.data(), want, 1e-4, 1e-4, why),
                     (std::string(cpu::isa_name(isa)) + ": " + why).c_str());
        }
    }
};

QTEST_APPLESS_MAIN(Qwen3MoeTest)
#include "test_qwen3_moe.moc"
