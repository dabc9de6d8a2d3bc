// The CUDA device probe. Labelled `gpu`: it skips cleanly where no GPU is present.
#include <QtTest>

#include "deskpilot/build_info.h"
#include "model/engine/cuda/device.h"

using namespace deskpilot::model;

class CudaDeviceTest : public QObject {
    Q_OBJECT
  private slots:
    void buildFlagMatchesProbe() { QCOMPARE(cuda::compiled_in(), deskpilot::build::kCuda); }

    void listsTheGpus() {
        const auto gpus = cuda::devices();
        if (gpus.empty()) QSKIP("no CUDA device on this machine");
        for (const auto& g : gpus) {
            QVERIFY(!g.name.empty());
            QVERIFY(g.total_memory > 0);
            QVERIFY(g.compute_major >= 7);
        }
    }
};

QTEST_APPLESS_MAIN(CudaDeviceTest)
#include "test_cuda_device.moc"
