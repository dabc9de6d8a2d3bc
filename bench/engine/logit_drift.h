// How far one row of logits is from a reference row: the largest |difference| and where, the
// reference's largest |logit| (at least 1, the scale a per-logit bound is a share of), both
// greedy tokens, and KL(reference || other) in nats. Shared by bench_engine_bf16_drift and
// test_engine_nano_checkpoint, so that the test's bound and the bench's figures are one measure.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace deskpilot::bench {

struct LogitDrift {
    double largest = 1, worst = 0, kl = 0;
    std::size_t worst_at = 0, want_argmax = 0, got_argmax = 0;
};

inline LogitDrift logit_drift(const float* want, const float* got, std::size_t n) {
    LogitDrift d;
    for (std::size_t i = 0; i < n; ++i) {
        d.largest = std::max(d.largest, double(std::fabs(want[i])));
        const double diff = std::fabs(double(got[i]) - double(want[i]));
        if (diff > d.worst) d.worst = diff, d.worst_at = i;
        if (want[i] > want[d.want_argmax]) d.want_argmax = i;
        if (got[i] > got[d.got_argmax]) d.got_argmax = i;
    }
    // log-softmax of both rows (shifted by their maxima), then sum p_want (log p_want - log p_got)
    double zw = 0, zg = 0;
    for (std::size_t i = 0; i < n; ++i) {
        zw += std::exp(double(want[i]) - want[d.want_argmax]);
        zg += std::exp(double(got[i]) - got[d.got_argmax]);
    }
    const double lw = want[d.want_argmax] + std::log(zw), lg = got[d.got_argmax] + std::log(zg);
    for (std::size_t i = 0; i < n; ++i) {
        const double lpw = double(want[i]) - lw;
        d.kl += std::exp(lpw) * (lpw - (double(got[i]) - lg));
    }
    d.kl = std::max(d.kl, 0.0);  // rounding can leave a tiny negative sum
    return d;
}

}  // namespace deskpilot::bench
