// panel::TimelineModel: one row per agent step — thumbnail, thought, reflection, actions,
// approval decisions, timings and tokens — for a live run or a loaded session. The view is a
// plain QTableView; tests drive this model directly.
#pragma once

#include <QAbstractTableModel>
#include <QImage>
#include <filesystem>
#include <vector>

#include "agent/session.h"

namespace deskpilot::panel {

class TimelineModel : public QAbstractTableModel {
    Q_OBJECT
  public:
    enum Column {
        StepColumn,
        ThumbnailColumn,
        ThoughtColumn,
        ReflectionColumn,
        ActionsColumn,
        ApprovalColumn,
        TimingsColumn,
        TokensColumn,
        ColumnCount
    };
    enum Role { ScreenshotPathRole = Qt::UserRole + 1, StepIndexRole };
    static constexpr int kThumbnailWidth = 96;

    using QAbstractTableModel::QAbstractTableModel;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    // A live step: `screenshot` is the frame the step saw (thumbnailed here); `origin` is the
    // screen position of its top-left pixel (a monitor's offset), so that the step's action is
    // drawn at the right place on it later.
    void add_step(const agent::StepRecord& step, const QImage& screenshot, QPoint origin = {});
    // Replaces everything with a recorded session (thumbnails read from its screenshots).
    void load(const agent::LoadedSession& session);
    void clear();

    const agent::StepRecord& step(int row) const {
        return rows_.at(static_cast<std::size_t>(row)).record;
    }
    // The full screenshot of a row: read from the session folder, or kept in memory for a step
    // that has no file there.
    QImage screenshot(int row) const;
    // Where the row's screenshot sits on the screen ({0, 0} for recorded sessions).
    QPoint origin(int row) const { return rows_.at(static_cast<std::size_t>(row)).origin; }
    const std::filesystem::path& session_dir() const { return session_dir_; }
    void set_session_dir(const std::filesystem::path& dir) { session_dir_ = dir; }

  private:
    struct Row {
        agent::StepRecord record;
        QImage full;  // live runs only
        QImage thumbnail;
        QPoint origin;
    };
    std::vector<Row> rows_;
    std::filesystem::path session_dir_;
};

}  // namespace deskpilot::panel
