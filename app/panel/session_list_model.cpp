#include "panel/session_list_model.h"

#include <algorithm>

#include "agent/session.h"

namespace deskpilot::panel {

void SessionListModel::set_root(const std::filesystem::path& root) {
    root_ = root;
    refresh();
}

void SessionListModel::refresh() {
    std::vector<Row> rows;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(root_, ec), end; !ec && it != end;
         it.increment(ec)) {
        if (!it->is_directory() || !std::filesystem::exists(it->path() / "manifest.json")) continue;
        Row row;
        row.dir = it->path();
        try {
            const auto session = agent::load_session(it->path());
            row.task = QString::fromStdString(session.manifest.task);
            row.date = QString::fromStdString(session.manifest.started_at);
            row.status = QString::fromStdString(session.manifest.status);
            row.steps = static_cast<int>(session.steps.size());
        } catch (const std::exception& e) {
            row.task = QString::fromStdString(it->path().filename().string());
            row.status = QStringLiteral("unreadable: ") + QString::fromUtf8(e.what());
        }
        rows.push_back(std::move(row));
    }
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
        return a.date != b.date ? a.date > b.date : a.dir > b.dir;
    });
    beginResetModel();
    rows_ = std::move(rows);
    endResetModel();
}

int SessionListModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

int SessionListModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant SessionListModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rowCount()) return {};
    const Row& r = rows_[static_cast<std::size_t>(index.row())];
    if (role == PathRole) return QString::fromStdString(r.dir.string());
    if (role != Qt::DisplayRole && role != Qt::ToolTipRole) return {};
    switch (index.column()) {
        case TaskColumn:
            return r.task;
        case DateColumn:
            return r.date;
        case StatusColumn:
            return r.status;
        case StepsColumn:
            return r.steps;
        default:
            return {};
    }
}

QVariant SessionListModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    static const char* names[] = {"Task", "Started", "Status", "Steps"};
    return section >= 0 && section < ColumnCount ? QString::fromLatin1(names[section]) : QVariant();
}

}  // namespace deskpilot::panel
