// Tensor views, copies and the scalar dtype conversions.
#include <QtTest>

#include <cmath>

#include "model/engine/tensor.h"

using namespace deskpilot::model::engine;

class TensorTest : public QObject {
    Q_OBJECT
  private slots:
    void zerosIsContiguousAndAligned() {
        Tensor t = Tensor::zeros(DType::BF16, {3, 5});
        QCOMPARE(t.numel(), 15);
        QCOMPARE(t.nbytes(), std::size_t(30));
        QVERIFY(t.is_contiguous());
        QCOMPARE(t.stride(0), 5);
        QCOMPARE(reinterpret_cast<std::uintptr_t>(t.raw()) % 64, std::uintptr_t(0));
        QCOMPARE(t.at({2, 4}), 0.0f);
    }

    void viewsShareStorage() {
        Tensor t = Tensor::zeros(DType::F32, {4, 6});
        float* p = t.data<float>();
        for (int i = 0; i < 24; ++i) p[i] = float(i);
        Tensor s = t.slice(1, 2, 5);
        QCOMPARE(s.shape(), (Shape{4, 3}));
        QVERIFY(!s.is_contiguous());
        QCOMPARE(s.at({1, 0}), 8.0f);
        Tensor row = t.select(0, 2);
        QCOMPARE(row.shape(), (Shape{6}));
        QCOMPARE(row.raw(), static_cast<void*>(p + 12));
        Tensor tr = t.transpose(0, 1);
        QCOMPARE(tr.at({5, 3}), 23.0f);
        p[23] = -1.0f;  // a write through the owner shows in every view
        QCOMPARE(tr.at({5, 3}), -1.0f);
        Tensor v = t.view({2, 12});
        QCOMPARE(v.raw(), t.raw());
        QCOMPARE(v.at({1, 11}), -1.0f);
    }

    void noHiddenCopyForNonContiguousView() {
        Tensor t = Tensor::zeros(DType::F32, {4, 6});
        QVERIFY_THROWS_EXCEPTION(TensorError, t.transpose(0, 1).view({24}));
        Tensor c = t.transpose(0, 1).copy_contiguous();
        QVERIFY(c.is_contiguous());
        QVERIFY(c.raw() != t.raw());
    }

    void misuseIsAnError() {
        Tensor t = Tensor::zeros(DType::BF16, {2, 3});
        QVERIFY_THROWS_EXCEPTION(TensorError, t.data<float>());
        QVERIFY_THROWS_EXCEPTION(TensorError, t.slice(1, 2, 4));
        QVERIFY_THROWS_EXCEPTION(TensorError, t.view({4}));
        QVERIFY_THROWS_EXCEPTION(TensorError, t.size(2));
        QVERIFY_THROWS_EXCEPTION(TensorError, t.at({0}));
        QVERIFY_THROWS_EXCEPTION(TensorError, Tensor::zeros(DType::F32, {-1}));
    }

    void toF32ConvertsStridedViews() {
        Tensor t = Tensor::zeros(DType::BF16, {2, 3});
        auto* p = t.data<std::uint16_t>();
        for (int i = 0; i < 6; ++i) p[i] = f32_to_bf16(float(i) + 0.5f);
        Tensor f = t.transpose(0, 1).to_f32();
        QCOMPARE(f.shape(), (Shape{3, 2}));
        QCOMPARE(f.data<float>()[1], 3.5f);
        QCOMPARE(f.data<float>()[4], 2.5f);
    }

    void bf16Conversions() {
        QCOMPARE(bf16_to_f32(0x3f80), 1.0f);
        QCOMPARE(f32_to_bf16(1.0f), std::uint16_t(0x3f80));
        // 1 + 2^-8 is exactly halfway between two bf16 values: ties go to even (1.0).
        QCOMPARE(f32_to_bf16(1.0f + 1.0f / 256), std::uint16_t(0x3f80));
        QCOMPARE(f32_to_bf16(1.0f + 3.0f / 256), std::uint16_t(0x3f82));
        QVERIFY(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
    }

    void f16Conversions() {
        QCOMPARE(f16_to_f32(0x3c00), 1.0f);
        QCOMPARE(f16_to_f32(0xc000), -2.0f);
        QCOMPARE(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
        QCOMPARE(f16_to_f32(0x7bff), 65504.0f);
        QVERIFY(std::isinf(f16_to_f32(0x7c00)));
        // Every finite half survives a round trip through f32.
        for (std::uint32_t h = 0; h < 0x10000; ++h) {
            if ((h & 0x7c00) == 0x7c00) continue;
            QCOMPARE(f32_to_f16(f16_to_f32(std::uint16_t(h))), std::uint16_t(h));
        }
        QCOMPARE(f32_to_f16(1e6f), std::uint16_t(0x7c00));
        QCOMPARE(f32_to_f16(1.0f + 1.0f / 2048), std::uint16_t(0x3c00));  // tie to even
    }
};

QTEST_APPLESS_MAIN(TensorTest)
#include "test_tensor.moc"
