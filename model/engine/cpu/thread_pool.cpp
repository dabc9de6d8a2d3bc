#include "model/engine/cpu/thread_pool.h"

#include <algorithm>
#include <cstdlib>

namespace deskpilot::model::engine::cpu {

namespace {
thread_local const std::function<bool()>* t_stop = nullptr;
}

StopScope::StopScope(std::function<bool()> stop) : stop_(std::move(stop)), outer_(t_stop) {
    t_stop = &stop_;
}

StopScope::~StopScope() {
    t_stop = outer_;
}

void check_stop() {
    if (t_stop && (*t_stop)()) throw Stopped{};
}

bool stop_scope_active() {
    return t_stop != nullptr;
}

ThreadPool::ThreadPool(int threads) {
    if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
}

ThreadPool& ThreadPool::global() {
    static ThreadPool pool([] {
        const char* env = std::getenv("DESKPILOT_THREADS");
        return env ? std::atoi(env) : 0;
    }());
    return pool;
}

void ThreadPool::run_chunks() {
    for (;;) {
        if (stop_check_ && (*stop_check_)()) {
            stopped_.store(true, std::memory_order_relaxed);
            return;
        }
        const std::int64_t begin = next_.fetch_add(chunk_);
        if (begin >= n_) return;
        (*job_)(begin, std::min(n_, begin + chunk_));
    }
}

void ThreadPool::worker_loop() {
    std::uint64_t seen = 0;
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
            if (stop_) return;
            seen = generation_;
        }
        run_chunks();
        {
            std::lock_guard lock(mutex_);
            if (--active_ == 0) done_.notify_one();
        }
    }
}

void ThreadPool::parallel_for(std::int64_t n, std::int64_t grain,
                              const std::function<void(std::int64_t, std::int64_t)>& fn,
                              std::int64_t max_chunk) {
    const std::function<bool()>* stop = t_stop;
    if (stop && (*stop)()) throw Stopped{};
    if (n <= 0) return;
    grain = std::max<std::int64_t>(1, grain);
    // Chunks: about four per thread so uneven work still balances, never below the grain.
    const std::int64_t threads = size();
    std::int64_t chunk = std::max(grain, (n + 4 * threads - 1) / (4 * threads));
    if (max_chunk > 0) chunk = std::max(grain, std::min(chunk, max_chunk));
    if (workers_.empty() || n <= grain) {
        if (!stop) return fn(0, n);
        for (std::int64_t b = 0; b < n; b += chunk) {  // one thread: still stop between chunks
            if (b > 0 && (*stop)()) throw Stopped{};
            fn(b, std::min(n, b + chunk));
        }
        return;
    }
    std::lock_guard call(call_mutex_);
    {
        std::lock_guard lock(mutex_);
        job_ = &fn;
        n_ = n;
        chunk_ = chunk;
        next_.store(0);
        stop_check_ = stop;
        stopped_.store(false, std::memory_order_relaxed);
        active_ = int(workers_.size());
        ++generation_;
    }
    wake_.notify_all();
    run_chunks();
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return active_ == 0; });
    job_ = nullptr;
    stop_check_ = nullptr;
    if (stopped_.load(std::memory_order_relaxed)) throw Stopped{};
}

}  // namespace deskpilot::model::engine::cpu
