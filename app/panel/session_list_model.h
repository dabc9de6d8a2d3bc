// panel::SessionListModel: the recorded sessions under a root folder (by default
// ~/.local/share/deskpilot/sessions): task, date, status, steps. Folders that are not sessions
// are skipped; a session that cannot be loaded is listed with its error as the status, so a
// person sees that it exists.
#pragma once

#include <QAbstractTableModel>
#include <filesystem>
#include <vector>

namespace deskpilot::panel {

class SessionListModel : public QAbstractTableModel {
    Q_OBJECT
  public:
    enum Column { TaskColumn, DateColumn, StatusColumn, StepsColumn, ColumnCount };
    enum Role { PathRole = Qt::UserRole + 1 };

    using QAbstractTableModel::QAbstractTableModel;

    // Lists the sessions under `root` (newest first). A missing root lists nothing.
    void set_root(const std::filesystem::path& root);
    void refresh();
    const std::filesystem::path& root() const { return root_; }

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    std::filesystem::path path(int row) const {
        return rows_.at(static_cast<std::size_t>(row)).dir;
    }

  private:
    struct Row {
        std::filesystem::path dir;
        QString task, date, status;
        int steps = 0;
    };
    std::filesystem::path root_;
    std::vector<Row> rows_;
};

}  // namespace deskpilot::panel
