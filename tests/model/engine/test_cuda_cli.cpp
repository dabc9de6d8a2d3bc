// `deskpilot generate --device cuda` and `deskpilot run --device cuda`: without a GPU (or without
// CUDA in the build) one clear error naming the missing device, before any desktop or session;
// Qwen2.5-VL on cuda as Qwen3 (text, image prompts, run); with a GPU, the same greedy tokens
// as the CPU path (text and image prompts).
#include <QProcess>
#include <QProcessEnvironment>
#include <QTemporaryDir>
#include <QtTest>

#include "model/engine/cuda/device.h"

namespace {

struct Result {
    int code;
    QByteArray out;
    QString err;
};

// `env`: extra environment variables, NAME=value.
Result run(const QStringList& args, const QStringList& env = {}) {
    QProcess p;
    QProcessEnvironment e = QProcessEnvironment::systemEnvironment();
    for (const QString& kv : env) e.insert(kv.section('=', 0, 0), kv.section('=', 1));
    p.setProcessEnvironment(e);
    p.start(QString(DESKPILOT_BIN_DIR) + "/deskpilot", args);
    p.closeWriteChannel();
    p.waitForFinished(120000);
    return {p.exitCode(), p.readAllStandardOutput(), QString::fromUtf8(p.readAllStandardError())};
}

const QString kTiny = QString(DESKPILOT_TEST_DATA_DIR) + "/engine/qwen3_vl_moe_tiny/bf16";
const QString kVisionTiny = QString(DESKPILOT_TEST_DATA_DIR) + "/engine/qwen3_vl_moe_vision_tiny";
const QString kQwen25Tiny = QString(DESKPILOT_TEST_DATA_DIR) + "/engine/qwen2_5_vl_tiny";

// The no-GPU error as require_device words it for this build.
bool names_missing_gpu(const QString& err) {
    const bool named = deskpilot::model::cuda::compiled_in()
                           ? err.contains("no CUDA device is available")
                           : err.contains("this build has no CUDA backend");
    return named && err.contains("--device cpu");
}

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

    // `run` finds out before opening the display (an unknown one here, whose error would show)
    // or creating the session folder: one line, exit 1, nothing left behind.
    void runCudaWithoutGpuIsOneErrorBeforeAnythingStarts() {
        if (!deskpilot::model::cuda::devices().empty()) QSKIP("a GPU is present");
        QTemporaryDir tmp;
        const QString session = tmp.path() + "/session";
        const Result r = run({"run", "--task", "click Apply", "--model-dir", kVisionTiny,
                              "--device", "cuda", "--display", ":97", "--session", session});
        QCOMPARE(r.code, 1);
        QVERIFY2(names_missing_gpu(r.err), qPrintable(r.err));
        QVERIFY2(!r.err.trimmed().contains('\n'), qPrintable(r.err));  // one line
        QVERIFY2(!r.err.contains(":97"), qPrintable(r.err));           // no display opened
        QVERIFY(!QFileInfo::exists(session));
        QVERIFY2(r.out.isEmpty(), r.out.constData());
    }

    void runUnknownDeviceIsAUsageError() {
        const Result r = run({"run", "--task", "t", "--model-dir", kVisionTiny, "--device", "tpu",
                              "--display", ":97"});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("tpu"), qPrintable(r.err));
    }

    void runDeviceNeedsTheNativeEngine() {
        const Result r = run({"run", "--task", "t", "--endpoint", "http://127.0.0.1:9/v1",
                              "--model", "m", "--device", "cuda", "--display", ":97"});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("--device applies to the native engine"), qPrintable(r.err));
    }

    // Image prompts now take --device cuda too (decoder and vision tower on the GPU): no GPU is the
    // same error as for text.
    void generateImageCudaWithoutGpuIsAClearError() {
        if (!deskpilot::model::cuda::devices().empty()) QSKIP("a GPU is present");
        const Result r =
            run({"generate", "--model-dir", kVisionTiny, "--image", kVisionTiny + "/image.png",
                 "--prompt", "click Apply", "--device", "cuda"});
        QCOMPARE(r.code, 1);
        QVERIFY2(names_missing_gpu(r.err), qPrintable(r.err));
        QVERIFY2(r.out.isEmpty(), r.out.constData());
    }

    // Qwen2.5-VL image prompts and agent runs take --device cuda (decoder and vision tower on the
    // GPU): without one, the same no-GPU error as for Qwen3, before any display or session.
    void qwen25ImageAndRunCudaWithoutGpuIsAClearError() {
        if (!deskpilot::model::cuda::devices().empty()) QSKIP("a GPU is present");
        QTemporaryDir tmp;
        const QString session = tmp.path() + "/session";
        for (const QStringList& args :
             {QStringList{"generate", "--model-dir", kQwen25Tiny, "--image",
                          kQwen25Tiny + "/image.png", "--prompt", "click", "--device", "cuda"},
              QStringList{"run", "--task", "t", "--model-dir", kQwen25Tiny, "--device", "cuda",
                          "--display", ":97", "--session", session}}) {
            const Result r = run(args);
            QCOMPARE(r.code, 1);
            QVERIFY2(names_missing_gpu(r.err), qPrintable(r.err));
            QVERIFY2(!r.err.contains("Qwen3 MoE decoders only"), qPrintable(r.err));
            QVERIFY2(!r.err.trimmed().contains('\n'), qPrintable(r.err));  // one line
            QVERIFY(!QFileInfo::exists(session));
        }
    }

    // With a GPU: the image path end to end (token parity is test_engine_cuda_qwen2_5's, on bf16
    // weights; this folder is f32, which the GPU rounds).
    void qwen25GenerateWithAnImageRunsOnCuda() {
        if (deskpilot::model::cuda::devices().empty()) QSKIP("no CUDA device on this machine");
        const Result gpu =
            run({"generate", "--model-dir", kQwen25Tiny, "--image", kQwen25Tiny + "/image.png",
                 "--prompt", "click Apply", "--max-new-tokens", "8", "--device", "cuda"});
        QVERIFY2(gpu.code == 0, qPrintable(gpu.err));
        QVERIFY2(gpu.err.contains("decoder on cuda:"), qPrintable(gpu.err));
        QVERIFY2(gpu.err.contains("\"image_tokens\":"), qPrintable(gpu.err));
    }

    // Text prompts of a Qwen2.5-VL checkpoint run on the CUDA decoder: without a GPU the same
    // no-GPU error as for Qwen3, with one the CPU's greedy tokens (bf16 weights, untied head).
    void qwen25TextGenerateTakesCuda() {
        const QStringList args = {"generate", "--model-dir",    kQwen25Tiny + "/bf16",
                                  "--ids",    "1,77,300,5,999", "--max-new-tokens",
                                  "6"};
        const Result gpu = run(args + QStringList{"--device", "cuda"});
        if (deskpilot::model::cuda::devices().empty()) {
            QCOMPARE(gpu.code, 1);
            QVERIFY2(names_missing_gpu(gpu.err), qPrintable(gpu.err));
            QVERIFY2(!gpu.err.contains("Qwen3 MoE decoders only"), qPrintable(gpu.err));
            QVERIFY2(gpu.out.isEmpty(), gpu.out.constData());
            return;
        }
        const Result cpu = run(args + QStringList{"--device", "cpu"});
        QVERIFY2(cpu.code == 0 && gpu.code == 0, qPrintable(cpu.err + gpu.err));
        QCOMPARE(gpu.out, cpu.out);
    }

    // --gpu N: a malformed value or --gpu without --device cuda is a usage error naming it,
    // before any weights are read or any display is opened.
    void badGpuFlagIsAUsageError() {
        for (const QString& bad : {QString("abc"), QString("-1"), QString("1.5")}) {
            const Result r = run(
                {"generate", "--model-dir", kTiny, "--ids", "1", "--device", "cuda", "--gpu", bad});
            QCOMPARE(r.code, 2);
            QVERIFY2(r.err.contains("--gpu '" + bad + "' is not a GPU index") &&
                         r.err.contains("present"),
                     qPrintable(r.err));
            QVERIFY2(r.out.isEmpty(), r.out.constData());
        }
        const Result cpu = run({"generate", "--model-dir", kTiny, "--ids", "1", "--gpu", "0"});
        QCOMPARE(cpu.code, 2);
        QVERIFY2(cpu.err.contains("--gpu applies to --device cuda"), qPrintable(cpu.err));
        QTemporaryDir tmp;
        const QString session = tmp.path() + "/session";
        const Result r = run({"run", "--task", "t", "--model-dir", kVisionTiny, "--device", "cuda",
                              "--gpu", "x", "--display", ":97", "--session", session});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("--gpu 'x'") && !r.err.contains(":97"), qPrintable(r.err));
        QVERIFY(!QFileInfo::exists(session));
    }

    // A malformed DESKPILOT_CUDA_DEVICE or DESKPILOT_CUDA_MEM_LIMIT is one error line naming it
    // (exit 1) for --device cuda, and no concern of --device cpu.
    void badCudaEnvironmentIsAClearError() {
        const QStringList args = {"generate", "--model-dir",      kTiny, "--ids",
                                  "1,2,3",    "--max-new-tokens", "2"};
        for (const auto& [env, named] :
             {std::pair{QString("DESKPILOT_CUDA_DEVICE=-1"), QString("DESKPILOT_CUDA_DEVICE '-1'")},
              std::pair{QString("DESKPILOT_CUDA_MEM_LIMIT=12Q"),
                        QString("DESKPILOT_CUDA_MEM_LIMIT '12Q'")}}) {
            const Result r = run(args + QStringList{"--device", "cuda"}, {env});
            QCOMPARE(r.code, 1);
            QVERIFY2(r.err.contains(named), qPrintable(r.err));
            QVERIFY2(!r.err.trimmed().contains('\n'), qPrintable(r.err));  // one line
            QVERIFY2(r.out.isEmpty(), r.out.constData());
            const Result cpu = run(args, {env});
            QVERIFY2(cpu.code == 0, qPrintable(cpu.err));
        }
    }

    // A well-formed GPU index without a GPU: the one no-GPU error, whatever the index.
    void gpuIndexWithoutGpuIsTheNoGpuError() {
        if (!deskpilot::model::cuda::devices().empty()) QSKIP("a GPU is present");
        const Result flag =
            run({"generate", "--model-dir", kTiny, "--ids", "1", "--device", "cuda", "--gpu", "3"});
        const Result env = run({"generate", "--model-dir", kTiny, "--ids", "1", "--device", "cuda"},
                               {"DESKPILOT_CUDA_DEVICE=2"});
        for (const Result& r : {flag, env}) {
            QCOMPARE(r.code, 1);
            QVERIFY2(names_missing_gpu(r.err), qPrintable(r.err));
        }
    }

    // With a GPU: an index past the count names it and the count; the last one runs.
    void gpuIndexChoosesTheDevice() {
        const auto n = int(deskpilot::model::cuda::devices().size());
        if (n == 0) QSKIP("no CUDA device on this machine");
        const QStringList args = {"generate", "--model-dir", kTiny,
                                  "--ids",    "1,77,300",    "--max-new-tokens",
                                  "3",        "--device",    "cuda"};
        const Result past = run(args + QStringList{"--gpu", QString::number(n)});
        QCOMPARE(past.code, 1);
        QVERIFY2(past.err.contains(QString("GPU %1 does not exist").arg(n)) &&
                     past.err.contains(QString("%1 GPU").arg(n)),
                 qPrintable(past.err));
        const Result last = run(args, {"DESKPILOT_CUDA_DEVICE=" + QString::number(n - 1)});
        QVERIFY2(last.code == 0, qPrintable(last.err));
    }

    // With a GPU: a memory cap too small for the weights is one out-of-memory line naming the
    // buffer, its size and the free memory (exit 1), for text and image prompts.
    void memoryCapTooSmallIsOneClearError() {
        if (deskpilot::model::cuda::devices().empty()) QSKIP("no CUDA device on this machine");
        for (const QStringList& args :
             {QStringList{"generate", "--model-dir", kTiny, "--ids", "1,2,3", "--device", "cuda"},
              QStringList{"generate", "--model-dir", kQwen25Tiny, "--image",
                          kQwen25Tiny + "/image.png", "--prompt", "click", "--device", "cuda"}}) {
            const Result r = run(args, {"DESKPILOT_CUDA_MEM_LIMIT=16K"});
            QCOMPARE(r.code, 1);
            QVERIFY2(r.err.contains("out of memory allocating") &&
                         r.err.contains("DESKPILOT_CUDA_MEM_LIMIT (16384 bytes)") &&
                         r.err.contains("free on the device"),
                     qPrintable(r.err));
            QVERIFY2(!r.err.trimmed().contains('\n'), qPrintable(r.err));
            QVERIFY2(r.out.isEmpty(), r.out.constData());
        }
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

    // The image path end to end on the GPU (token parity with the CPU is test_engine_cuda_vlm's,
    // on bf16 weights; this folder is f32, which the GPU rounds).
    void generateWithAnImageRunsOnCuda() {
        if (deskpilot::model::cuda::devices().empty()) QSKIP("no CUDA device on this machine");
        const Result gpu =
            run({"generate", "--model-dir", kVisionTiny, "--image", kVisionTiny + "/image.png",
                 "--prompt", "click Apply", "--max-new-tokens", "8", "--device", "cuda"});
        QVERIFY2(gpu.code == 0, qPrintable(gpu.err));
        QVERIFY2(gpu.err.contains("decoder on cuda:"), qPrintable(gpu.err));
        QVERIFY2(gpu.err.contains("\"image_tokens\":"), qPrintable(gpu.err));
    }
};

QTEST_APPLESS_MAIN(CudaCliTest)
#include "test_cuda_cli.moc"
