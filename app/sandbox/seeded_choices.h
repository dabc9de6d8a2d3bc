// SeededChoices: everything --seed varies (labels from small pools, order, spacing, colours),
// drawn from one generator so the same seed always gives the same screen. Without a seed the
// canonical labels and order are used.
#pragma once

#include <QColor>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <optional>
#include <random>
#include <vector>

namespace deskpilot::sandbox {

class SeededChoices {
  public:
    explicit SeededChoices(std::optional<std::uint32_t> seed);

    bool randomised() const { return randomised_; }
    // The first entry of the pool when not randomised, else a seeded pick.
    QString pick(const QStringList& pool);
    int range(int low, int high);  // inclusive; `low` when not randomised
    QColor colour(const std::vector<QColor>& palette);
    // A permutation of 0..n-1 (identity when not randomised).
    std::vector<int> order(int n);

  private:
    // Our own uniform draw: std::uniform_int_distribution differs between standard libraries,
    // and the same seed must give the same layout everywhere.
    std::uint32_t below(std::uint32_t n);

    bool randomised_;
    std::mt19937 engine_;
};

}  // namespace deskpilot::sandbox
