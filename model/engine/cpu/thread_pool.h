// A fixed pool of worker threads for the CPU kernels. parallel_for splits [0, n) into chunks
// of at least `grain` and runs them on the workers and the calling thread; it returns when all
// are done. Calls from several threads are serialised; a job must not call parallel_for on
// the same pool (that would wait on itself).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace deskpilot::model::engine::cpu {

class ThreadPool {
  public:
    // threads <= 0: one per hardware thread.
    explicit ThreadPool(int threads = 0);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return int(workers_.size()) + 1; }
    void parallel_for(std::int64_t n, std::int64_t grain,
                      const std::function<void(std::int64_t, std::int64_t)>& fn);

    // The process-wide pool (sized from DESKPILOT_THREADS or the hardware).
    static ThreadPool& global();

  private:
    void worker_loop();
    void run_chunks();

    std::vector<std::thread> workers_;
    std::mutex call_mutex_;  // one job at a time
    std::mutex mutex_;
    std::condition_variable wake_, done_;
    std::uint64_t generation_ = 0;
    bool stop_ = false;
    int active_ = 0;

    const std::function<void(std::int64_t, std::int64_t)>* job_ = nullptr;
    std::int64_t n_ = 0, chunk_ = 1;
    std::atomic<std::int64_t> next_{0};
};

}  // namespace deskpilot::model::engine::cpu
