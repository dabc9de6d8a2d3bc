// The CUDA backend's choices that parse and fail the same way with or without a GPU: which GPU
// (--gpu, DESKPILOT_CUDA_DEVICE: cuda::choose_device), the device memory cap
// (DESKPILOT_CUDA_MEM_LIMIT: cuda::parse_byte_count, memory_limit, reserve_device_memory) and the
// stop point a GPU pass checks between layers. Runs everywhere; the cases that need a device
// (a GPU index past the count, an allocation that does not fit) skip without one.
#include <QtTest>

#include <cstdlib>

#include "model/engine/cpu/thread_pool.h"
#include "model/engine/cuda/device.h"
#include "model/engine/cuda/memory_limit.h"
#if DESKPILOT_HAVE_CUDA  // DeviceBuffer and Stream exist only in CUDA builds
#include "model/engine/cuda/buffer.h"
#include "model/engine/cuda/stop_point.h"
#endif

namespace cuda = deskpilot::model::cuda;
namespace cpu = deskpilot::model::engine::cpu;

namespace {

// The CudaError `f` throws, or "" when it throws none.
template <typename F>
QString error_of(F&& f) {
    try {
        f();
    } catch (const cuda::CudaError& e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

// Sets (or with nullptr unsets) an environment variable for one scope.
struct EnvVar {
    const char* name;
    EnvVar(const char* n, const char* value) : name(n) {
        if (value)
            qputenv(name, value);
        else
            qunsetenv(name);
    }
    ~EnvVar() { qunsetenv(name); }
};

}  // namespace

class TestCudaOptions : public QObject {
    Q_OBJECT

  private slots:
    void init() { cuda::clear_memory_limit_override(); }

    void deviceIndexParses() {
        QCOMPARE(cuda::parse_device_index("0", "--gpu"), 0);
        QCOMPARE(cuda::parse_device_index("7", "--gpu"), 7);
    }

    void badDeviceIndexIsAClearError_data() {
        QTest::addColumn<QString>("text");
        for (const char* t : {"", "abc", "-1", "1.5", " 1", "1 ", "0x1", "99999999999"})
            QTest::newRow(t[0] ? t : "empty") << QString(t);
    }
    // One error naming the value, where it came from and the GPUs present.
    void badDeviceIndexIsAClearError() {
        QFETCH(QString, text);
        const std::string s = text.toStdString();
        const QString e = error_of([&] { cuda::parse_device_index(s, "DESKPILOT_CUDA_DEVICE"); });
        QVERIFY2(e.startsWith("DESKPILOT_CUDA_DEVICE '" + text + "' is not a GPU index"),
                 qPrintable(e));
        const auto n = cuda::devices().size();
        QVERIFY2(e.contains(QString("%1 GPU").arg(n)) && e.contains("present"), qPrintable(e));
    }

    // --gpu wins over DESKPILOT_CUDA_DEVICE, which wins over 0; an empty variable is unset.
    void chooseDeviceOrder() {
        {
            EnvVar env("DESKPILOT_CUDA_DEVICE", nullptr);
            QCOMPARE(cuda::choose_device(), 0);
            QCOMPARE(cuda::choose_device("2"), 2);
        }
        {
            EnvVar env("DESKPILOT_CUDA_DEVICE", "3");
            QCOMPARE(cuda::choose_device(), 3);
            QCOMPARE(cuda::choose_device("1"), 1);
        }
        {
            EnvVar env("DESKPILOT_CUDA_DEVICE", "");
            QCOMPARE(cuda::choose_device(), 0);
        }
        {
            EnvVar env("DESKPILOT_CUDA_DEVICE", "gpu1");
            QVERIFY(error_of([] { cuda::choose_device(); }).contains("'gpu1'"));
            QVERIFY(error_of([] { cuda::choose_device(""); }).startsWith("--gpu ''"));
        }
    }

    // With a GPU: an index past the count names it and the count (without one, require_device
    // keeps its own no-GPU error for every index: test_engine_cuda_cli).
    void deviceIndexPastTheCountIsAClearError() {
        const auto n = int(cuda::devices().size());
        if (n == 0) QSKIP("no CUDA device on this machine");
        const QString e = error_of([&] { cuda::require_device(n); });
        QVERIFY2(e.contains(QString("GPU %1 does not exist").arg(n)) &&
                     e.contains(QString("%1 GPU").arg(n)),
                 qPrintable(e));
        QCOMPARE(cuda::require_device(n - 1).index, n - 1);
    }

    void byteCountsParse() {
        QCOMPARE(cuda::parse_byte_count("1", "x"), std::size_t(1));
        QCOMPARE(cuda::parse_byte_count("1073741824", "x"), std::size_t(1) << 30);
        QCOMPARE(cuda::parse_byte_count("4K", "x"), std::size_t(4096));
        QCOMPARE(cuda::parse_byte_count("512m", "x"), std::size_t(512) << 20);
        QCOMPARE(cuda::parse_byte_count("24G", "x"), std::size_t(24) << 30);
        QCOMPARE(cuda::parse_byte_count("8GiB", "x"), std::size_t(8) << 30);
        QCOMPARE(cuda::parse_byte_count("8GB", "x"), std::size_t(8) << 30);
        QCOMPARE(cuda::parse_byte_count("2T", "x"), std::size_t(2) << 40);
    }

    void badByteCountIsAClearError_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("why");
        QTest::newRow("empty") << ""
                               << "is not a byte count";
        QTest::newRow("word") << "lots"
                              << "is not a byte count";
        QTest::newRow("negative") << "-5G"
                                  << "is not a byte count";
        QTest::newRow("fraction") << "1.5G"
                                  << "unknown unit";
        QTest::newRow("unit") << "12Q"
                              << "unknown unit";
        QTest::newRow("unit tail") << "12Gx"
                                   << "unknown unit";
        QTest::newRow("zero") << "0"
                              << "is zero";
        QTest::newRow("overflow") << "99999999999999999999"
                                  << "too large";
        QTest::newRow("overflow with unit") << "99999999999T"
                                            << "too large";
    }
    void badByteCountIsAClearError() {
        QFETCH(QString, text);
        QFETCH(QString, why);
        const std::string s = text.toStdString();
        const QString e = error_of([&] { cuda::parse_byte_count(s, "DESKPILOT_CUDA_MEM_LIMIT"); });
        QVERIFY2(e.startsWith("DESKPILOT_CUDA_MEM_LIMIT '" + text + "'") && e.contains(why),
                 qPrintable(e));
    }

    void sizesReadWell() {
        QCOMPARE(cuda::format_bytes(12), std::string("12 bytes"));
        QCOMPARE(cuda::format_bytes(1024), std::string("1.0 KiB"));
        QCOMPARE(cuda::format_bytes(std::size_t(3) << 19), std::string("1.5 MiB"));
        QCOMPARE(cuda::format_bytes(std::size_t(4) << 30), std::string("4.00 GiB"));
        QCOMPARE(cuda::format_bytes(std::size_t(141) << 40), std::string("141.00 TiB"));
    }

    // The cap comes from the environment unless a test overrides it; a bad value is an error
    // wherever it is read (before any allocation counts).
    void memoryLimitFromTheEnvironment() {
        {
            EnvVar env("DESKPILOT_CUDA_MEM_LIMIT", nullptr);
            QVERIFY(!cuda::memory_limit());
        }
        {
            EnvVar env("DESKPILOT_CUDA_MEM_LIMIT", "3M");
            QCOMPARE(cuda::memory_limit().value(), std::size_t(3) << 20);
            cuda::set_memory_limit(100);
            QCOMPARE(cuda::memory_limit().value(), std::size_t(100));
            cuda::clear_memory_limit_override();
        }
        {
            EnvVar env("DESKPILOT_CUDA_MEM_LIMIT", "3X");
            QVERIFY(error_of([] { cuda::memory_limit(); }).contains("'3X'"));
            const std::size_t before = cuda::memory_in_use();
            QVERIFY(error_of([] { cuda::reserve_device_memory(10, "weights"); }).contains("'3X'"));
            QCOMPARE(cuda::memory_in_use(), before);
        }
    }

    // What does not fit under the cap is an out-of-memory error naming the buffer, its bytes and
    // what the cap leaves free; nothing is counted for it, and freeing makes room again.
    void reserveHonoursTheLimit() {
        const std::size_t base = cuda::memory_in_use();
        cuda::set_memory_limit(base + 1000);
        cuda::reserve_device_memory(600, "layer 0 q_proj");
        QCOMPARE(cuda::memory_in_use(), base + 600);
        const QString e = error_of([] { cuda::reserve_device_memory(500, "KV cache K, layer 3"); });
        QVERIFY2(e.startsWith("CUDA: out of memory allocating 500 bytes"), qPrintable(e));
        QVERIFY2(e.contains("'KV cache K, layer 3'"), qPrintable(e));
        QVERIFY2(e.contains("DESKPILOT_CUDA_MEM_LIMIT") &&
                     e.contains(QString::number(base + 1000) + " bytes"),
                 qPrintable(e));
        QCOMPARE(cuda::memory_in_use(), base + 600);
        cuda::release_device_memory(600);
        cuda::reserve_device_memory(500, "KV cache K, layer 3");
        cuda::release_device_memory(500);
        QCOMPARE(cuda::memory_in_use(), base);
        cuda::set_memory_limit(std::nullopt);  // no cap, whatever the environment says
        EnvVar env("DESKPILOT_CUDA_MEM_LIMIT", "1");
        cuda::reserve_device_memory(5000, "big");
        cuda::release_device_memory(5000);
    }

    // With a GPU: DeviceBuffer counts against the cap and fails past it with the device's own
    // free memory added; a request the device cannot hold is the runtime's out-of-memory, worded
    // the same way, never a crash.
    void deviceBufferOutOfMemoryIsAClearError() {
#if DESKPILOT_HAVE_CUDA
        if (cuda::devices().empty()) QSKIP("no CUDA device on this machine");
        cuda::require_device(0);
        const std::size_t base = cuda::memory_in_use();
        cuda::set_memory_limit(base + (std::size_t(1) << 20));
        {
            cuda::DeviceBuffer a(std::size_t(768) << 10, "first");
            QCOMPARE(cuda::memory_in_use(), base + (std::size_t(768) << 10));
            const QString e =
                error_of([] { cuda::DeviceBuffer b(std::size_t(512) << 10, "second"); });
            QVERIFY2(e.contains("out of memory allocating 524288 bytes") &&
                         e.contains("'second'") && e.contains("free on the device"),
                     qPrintable(e));
        }
        QCOMPARE(cuda::memory_in_use(), base);
        cuda::set_memory_limit(std::nullopt);
        const QString e =
            error_of([] { cuda::DeviceBuffer huge(std::size_t(1) << 50, "huge test buffer"); });
        QVERIFY2(e.contains("out of memory allocating") && e.contains("'huge test buffer'") &&
                     e.contains("free on the device"),
                 qPrintable(e));
        QCOMPARE(cuda::memory_in_use(), base);
#else
        QSKIP("no CUDA in this build");
#endif
    }

    // stop_point: nothing without a StopScope; with one, Stopped once it says stop.
    void stopPointFollowsTheScope() {
#if DESKPILOT_HAVE_CUDA
        if (cuda::devices().empty()) QSKIP("no CUDA device on this machine (a Stream needs one)");
        cuda::require_device(0);
        const cuda::Stream stream;
        cuda::stop_point(stream, "no scope");
        bool stop = false;
        const cpu::StopScope scope([&] { return stop; });
        cuda::stop_point(stream, "not yet");
        stop = true;
        QVERIFY_THROWS_EXCEPTION(cpu::Stopped, cuda::stop_point(stream, "now"));
#else
        QSKIP("no CUDA in this build");
#endif
    }
};

QTEST_APPLESS_MAIN(TestCudaOptions)
#include "test_cuda_options.moc"
