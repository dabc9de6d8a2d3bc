// The CPU twin of the device's top-p sampler (k::sample_top_p): the same arithmetic in the same
// order, so a given uniform draw `u` picks the same token. The nucleus is every token whose
// probability reaches the threshold τ, the largest one whose kept mass is at least top_p (found by
// bisection, as on the device); the draw walks the kept tokens in id order. engine::Sampler sorts
// instead: the same distribution, not the same token for a given draw.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace deskpilot::model::cuda {

struct TopP {
    std::int32_t id = 0;
    float threshold = 0;  // τ
    float kept_mass = 0;  // Σ p over the nucleus
};

#ifdef __CUDACC__
#define DESKPILOT_HOST_DEVICE __host__ __device__
#else
#define DESKPILOT_HOST_DEVICE
#endif

DESKPILOT_HOST_DEVICE inline float top_p_threshold_step(float lo, float hi) {
    return 0.5f * (lo + hi);
}
constexpr int kTopPBisections = 40;

inline TopP sample_top_p_cpu(const float* logits, std::int64_t n, float temperature, float top_p,
                             float u) {
    float mx = -INFINITY;
    for (std::int64_t i = 0; i < n; ++i) mx = std::fmax(mx, logits[i]);
    std::vector<float> p(static_cast<std::size_t>(n));
    double sum = 0;
    for (std::int64_t i = 0; i < n; ++i)
        sum += p[std::size_t(i)] = std::exp((logits[i] - mx) / temperature);
    for (auto& v : p) v = float(v / sum);
    auto mass = [&](float t) {
        double m = 0;
        for (float v : p)
            if (v >= t) m += v;
        return m;
    };
    float lo = 0.0f, hi = 1.0f;  // mass(lo) >= top_p always holds
    for (int it = 0; it < kTopPBisections; ++it) {
        const float mid = top_p_threshold_step(lo, hi);
        if (mass(mid) >= double(top_p))
            lo = mid;
        else
            hi = mid;
    }
    TopP r;
    r.threshold = lo;
    r.kept_mass = float(mass(lo));
    const double target = double(u) * double(r.kept_mass);
    double c = 0;
    r.id = -1;
    for (std::int64_t i = 0; i < n; ++i)
        if (p[std::size_t(i)] >= lo) {
            r.id = std::int32_t(i);  // the last kept token, should rounding leave c < target
            c += p[std::size_t(i)];
            if (c > target) break;
        }
    return r;
}

}  // namespace deskpilot::model::cuda
