// The CPU thread pool: every index runs exactly once, for any size and grain, and callers on
// several threads are serialised rather than mixing their jobs; a StopScope stops a job between
// chunks, throws Stopped on the caller only after every worker left, and leaves the pool usable.
#include <QtTest>

#include <atomic>
#include <chrono>
#include <thread>

#include "model/engine/cpu/thread_pool.h"

using deskpilot::model::engine::cpu::check_stop;
using deskpilot::model::engine::cpu::Stopped;
using deskpilot::model::engine::cpu::StopScope;
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

    void stopScopeStopsBetweenChunks() {
        for (int threads : {1, 3}) {
            ThreadPool pool(threads);
            std::atomic<bool> stop{false};
            std::atomic<int> started{0}, running{0}, after_stop{0};
            bool thrown = false;
            {
                StopScope scope([&] { return stop.load(); });
                try {
                    // 1000 chunks of one item (max_chunk 1); the 10th to start sets the stop.
                    pool.parallel_for(
                        1000, 1,
                        [&](std::int64_t, std::int64_t) {
                            ++running;
                            if (stop.load()) ++after_stop;
                            if (++started == 10) stop = true;
                            std::this_thread::sleep_for(std::chrono::microseconds(200));
                            --running;
                        },
                        1);
                } catch (const Stopped&) {
                    thrown = true;
                }
                QVERIFY(thrown);
                QCOMPARE(running.load(), 0);  // no worker still in the job
                // Chunks already taken when the stop was set may finish; no more start after.
                QVERIFY2(started.load() < 10 + threads,
                         qPrintable(QString::number(started.load())));
                QVERIFY(after_stop.load() < threads);
                // While the scope says stop, every call (and check_stop) throws at once.
                bool ran = false;
                QVERIFY_THROWS_EXCEPTION(
                    Stopped,
                    pool.parallel_for(1, 1, [&](std::int64_t, std::int64_t) { ran = true; }));
                QVERIFY(!ran);
                QVERIFY_THROWS_EXCEPTION(Stopped, check_stop());
            }
            // Out of the scope the pool is whole again.
            check_stop();
            std::atomic<std::int64_t> sum{0};
            pool.parallel_for(1000, 1, [&](std::int64_t a, std::int64_t b) { sum += b - a; });
            QCOMPARE(sum.load(), std::int64_t(1000));
        }
    }

    void stopScopeIsPerCallingThread() {
        // Another thread's jobs on the same pool ignore this thread's stop.
        ThreadPool pool(2);
        StopScope scope([] { return true; });
        QVERIFY_THROWS_EXCEPTION(Stopped, check_stop());
        std::atomic<std::int64_t> sum{0};
        std::thread other([&] {
            pool.parallel_for(100, 1, [&](std::int64_t a, std::int64_t b) { sum += b - a; });
        });
        other.join();
        QCOMPARE(sum.load(), std::int64_t(100));
    }
};

QTEST_APPLESS_MAIN(ThreadPoolTest)
#include "test_thread_pool.moc"
