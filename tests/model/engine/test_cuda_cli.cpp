// `deskpilot generate --device cuda`: without a GPU (or without CUDA in the build) a clear error
// naming the missing device; with one, the same greedy tokens as the CPU path.
#include <QProcess>
#include <QtTest>

#include "model/engine/cuda/device.h"

namespace {

struct Result {
    int code;
    QByteArray out;
    QString err;
};

Result run(const QStringList& args) {
    QProcess p;
    p.start(QString(DESKPILOT_BIN_DIR) + "/deskpilot", args);
    p.closeWriteChannel();
    p.waitForFinished(120000);
    return {p.exitCode(), p.readAllStandardOutput(), QString::fromUtf8(p.readAllStandardError())};
}

const QString kTiny = QString(DESKPILOT_TEST_DATA_DIR) + "/engine/qwen3_vl_moe_tiny/bf16";

}  // namespace

class CudaCliTest : public QObject {
    Q_OBJECT
  private slots:
    void cudaWithoutGpuIsAClearError() {
        if (!deskpilot::model::cuda::devices().empty()) QSKIP("a GPU is present");
        const Result r =
            run({"generate", "--model-dir", kTiny, "--ids", "1,2,3", "--device", "cuda"});
        QCOMPARE(r.code, 1);
        const bool named = deskpilot::model::cuda::compiled_in()
                               ? r.err.contains("no CUDA device is available")
                               : r.err.contains("this build has no CUDA backend");
        QVERIFY2(named && r.err.contains("--device cpu"), qPrintable(r.err));
        QVERIFY2(r.out.isEmpty(), r.out.constData());
    }

    void unknownDeviceIsAUsageError() {
        const Result r = run({"generate", "--model-dir", kTiny, "--ids", "1", "--device", "tpu"});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("tpu"), qPrintable(r.err));
    }

    void cudaMatchesCpuTokens() {
        if (deskpilot::model::cuda::devices().empty()) QSKIP("no CUDA device on this machine");
        const QStringList args = {"generate",       "--model-dir",      kTiny, "--ids",
                                  "1,77,300,5,999", "--max-new-tokens", "6"};
        const Result cpu = run(args + QStringList{"--device", "cpu"});
        const Result gpu = run(args + QStringList{"--device", "cuda"});
        QVERIFY2(cpu.code == 0 && gpu.code == 0, qPrintable(cpu.err + gpu.err));
        QCOMPARE(gpu.out, cpu.out);
        QVERIFY2(gpu.err.contains("cuda:"), qPrintable(gpu.err));
    }
};

QTEST_APPLESS_MAIN(CudaCliTest)
#include "test_cuda_cli.moc"
