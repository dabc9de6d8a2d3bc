// A fixed pool of worker threads for the CPU kernels. parallel_for splits [0, n) into chunks
// of at least `grain` and runs them on the workers and the calling thread; it returns when all
// are done. Calls from several threads are serialised; a job must not call parallel_for on
// the same pool (that would wait on itself).
//
// Cancellation: a StopScope on the calling thread gives every parallel_for it makes a stop
// check. parallel_for reads it on entry and before handing out each chunk (from any thread);
// once it reads true no further chunk starts, and when every thread has left the job,
// parallel_for throws Stopped on the calling thread. So a forward pass made of pool jobs stops
// within about one chunk of work, no worker is left running, and the pool stays usable. Callers
// that cut work into chunks of bounded cost (linear does) bound the latency of a stop.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace deskpilot::model::engine::cpu {

// Thrown by parallel_for and check_stop when the calling thread's StopScope says stop; the
// abandoned job's outputs are incomplete.
struct Stopped {};

// Installs `stop` (thread-safe and cheap: it is read from the pool's workers too) for the
// pool jobs this thread starts while the scope lives; scopes nest (the innermost counts).
class StopScope {
  public:
    explicit StopScope(std::function<bool()> stop);
    ~StopScope();
    StopScope(const StopScope&) = delete;
    StopScope& operator=(const StopScope&) = delete;

  private:
    std::function<bool()> stop_;
    const std::function<bool()>* outer_;
};

// Throws Stopped when this thread's StopScope says stop (for work outside parallel_for).
void check_stop();
// True when this thread has a StopScope, so a stop can come: work that must pay to see its own
// progress before checking (a GPU pass synchronising its stream) skips that cost without one.
bool stop_scope_active();

class ThreadPool {
  public:
    // threads <= 0: one per hardware thread.
    explicit ThreadPool(int threads = 0);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return int(workers_.size()) + 1; }
    // max_chunk > 0 caps the chunk (for work items already sized by cost).
    void parallel_for(std::int64_t n, std::int64_t grain,
                      const std::function<void(std::int64_t, std::int64_t)>& fn,
                      std::int64_t max_chunk = 0);

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
    const std::function<bool()>* stop_check_ = nullptr;  // the caller's StopScope, if any
    std::atomic<bool> stopped_{false};                   // a thread saw the stop and left
};

}  // namespace deskpilot::model::engine::cpu
