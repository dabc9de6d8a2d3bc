#include "seeded_choices.h"

namespace deskpilot::sandbox {

SeededChoices::SeededChoices(std::optional<std::uint32_t> seed)
    : randomised_(seed.has_value()), engine_(seed.value_or(0) ^ 0x5EEDu) {}

std::uint32_t SeededChoices::below(std::uint32_t n) {
    if (n <= 1) return 0;
    const std::uint32_t limit = UINT32_MAX - UINT32_MAX % n;
    std::uint32_t r;
    do {
        r = static_cast<std::uint32_t>(engine_());
    } while (r >= limit);
    return r % n;
}

QString SeededChoices::pick(const QStringList& pool) {
    if (!randomised_ || pool.size() <= 1) return pool.value(0);
    return pool.at(static_cast<int>(below(static_cast<std::uint32_t>(pool.size()))));
}

int SeededChoices::range(int low, int high) {
    if (!randomised_ || high <= low) return low;
    return low + static_cast<int>(below(static_cast<std::uint32_t>(high - low + 1)));
}

QColor SeededChoices::colour(const std::vector<QColor>& palette) {
    if (!randomised_ || palette.size() <= 1) return palette.front();
    return palette.at(below(static_cast<std::uint32_t>(palette.size())));
}

std::vector<int> SeededChoices::order(int n) {
    std::vector<int> result(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) result[i] = i;
    if (!randomised_) return result;
    for (int i = n - 1; i > 0; --i)
        std::swap(result[i], result[below(static_cast<std::uint32_t>(i + 1))]);
    return result;
}

}  // namespace deskpilot::sandbox
