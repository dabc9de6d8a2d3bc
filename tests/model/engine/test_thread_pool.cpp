// The CPU thread pool: every index runs exactly once, for any size and grain, and callers on
// several threads are serialised rather than mixing their jobs.
#include <QtTest>

#include <atomic>
#include <thread>

#include "model/engine/cpu/thread_pool.h"

using deskpilot::model::engine::cpu::ThreadPool;

class ThreadPoolTest : public QObject {
    Q_OBJECT
  private slots:
    void coversEachIndexOnce() {
        ThreadPool pool(4);
        QCOMPARE(pool.size(), 4);
        for (std::int64_t n : {0, 1, 3, 17, 1000, 4099})
            for (std::int64_t grain : {1, 7, 64, 5000}) {
                std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
                pool.parallel_for(n, grain, [&](std::int64_t a, std::int64_t b) {
                    for (std::int64_t i = a; i < b; ++i) hits[std::size_t(i)]++;
                });
                for (std::int64_t i = 0; i < n; ++i) QCOMPARE(hits[std::size_t(i)].load(), 1);
            }
    }

    void concurrentCallersAreSerialised() {
        ThreadPool pool(3);
        std::atomic<long> total{0};
        auto work = [&] {
            for (int r = 0; r < 200; ++r)
                pool.parallel_for(100, 1, [&](std::int64_t a, std::int64_t b) { total += b - a; });
        };
        std::thread t1(work), t2(work);
        t1.join();
        t2.join();
        QCOMPARE(total.load(), 2L * 200 * 100);
    }
};

QTEST_APPLESS_MAIN(ThreadPoolTest)
#include "test_thread_pool.moc"
