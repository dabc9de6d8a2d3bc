// Cancelling a GPU pass mid-way. The host enqueues a whole pass in microseconds, so checking the
// caller's cpu::StopScope between enqueued layers would see the stop only after all of them had
// been queued; stop_point first waits for the stream to finish what is queued, so a stop is seen
// within one layer (or vision block) of the GPU's own progress. Only where a StopScope is active
// (NativeVlm::generate installs one): elsewhere (benchmarks, `generate --ids`) nothing is
// synchronised and the pass runs as before.
#pragma once

#include "model/engine/cpu/thread_pool.h"
#include "model/engine/cuda/buffer.h"

namespace deskpilot::model::cuda {

// Between two layers of a pass on `stream`: throws engine::cpu::Stopped when the scope says stop
// (the work queued so far has finished; nothing is left running on the stream).
inline void stop_point(const Stream& stream, const char* what) {
    if (!engine::cpu::stop_scope_active()) return;
    stream.sync(what);
    engine::cpu::check_stop();
}

}  // namespace deskpilot::model::cuda
