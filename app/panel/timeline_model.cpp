#include "panel/timeline_model.h"

#include <QStringList>

#include "panel/qt_convert.h"

namespace deskpilot::panel {

namespace {

QString actions_text(const agent::StepRecord& step) {
    QStringList parts;
    for (const auto& a : step.actions) parts << describe_json(a);
    // What went wrong is part of the step: a parse error (no action at all), a refused or
    // failed action.
    for (const auto& r : step.results)
        if (r.is_string() && r.get<std::string>() != "ok")
            parts << QString::fromStdString(r.get<std::string>());
    return parts.join(QStringLiteral("; "));
}

QString approvals_text(const agent::StepRecord& step) {
    QStringList parts;
    for (const auto& a : step.approvals)
        parts << (a.is_string() ? QString::fromStdString(a.get<std::string>()) : QString());
    return parts.join(QStringLiteral(", "));
}

QString timings_text(const agent::StepRecord& s) {
    return QStringLiteral("capture %1 ms, model %2 ms, act %3 ms, settle %4 ms")
        .arg(s.capture_ms, 0, 'f', 0)
        .arg(s.model_ms, 0, 'f', 0)
        .arg(s.act_ms, 0, 'f', 0)
        .arg(s.settle_ms, 0, 'f', 0);
}

QImage thumbnail_of(const QImage& image) {
    return image.isNull()
               ? QImage()
               : image.scaledToWidth(TimelineModel::kThumbnailWidth, Qt::SmoothTransformation);
}

}  // namespace

int TimelineModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

int TimelineModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant TimelineModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rowCount()) return {};
    const Row& row = rows_[static_cast<std::size_t>(index.row())];
    const auto& s = row.record;
    if (role == StepIndexRole) return s.index;
    if (role == ScreenshotPathRole)
        return s.screenshot.empty()
                   ? QString()
                   : QString::fromStdString((session_dir_ / s.screenshot).string());
    if (role == Qt::DecorationRole && index.column() == ThumbnailColumn) return row.thumbnail;
    if (role == Qt::SizeHintRole && index.column() == ThumbnailColumn && !row.thumbnail.isNull())
        return row.thumbnail.size();
    if (role != Qt::DisplayRole && role != Qt::ToolTipRole) return {};
    switch (index.column()) {
        case StepColumn:
            return s.index;
        case ThumbnailColumn:
            return {};
        case ThoughtColumn:
            return QString::fromStdString(s.thought);
        case ReflectionColumn:
            return QString::fromStdString(s.reflection);
        case ActionsColumn:
            return actions_text(s);
        case ApprovalColumn:
            return approvals_text(s);
        case TimingsColumn:
            return timings_text(s);
        case TokensColumn:
            return QStringLiteral("%1 / %2").arg(s.prompt_tokens).arg(s.completion_tokens);
        default:
            return {};
    }
}

QVariant TimelineModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    static const char* names[] = {"Step",    "Screen",   "Thought", "Reflection",
                                  "Actions", "Approval", "Timings", "Tokens (in / out)"};
    return section >= 0 && section < ColumnCount ? QString::fromLatin1(names[section]) : QVariant();
}

void TimelineModel::add_step(const agent::StepRecord& step, const QImage& screenshot,
                             QPoint origin) {
    const int row = rowCount();
    beginInsertRows({}, row, row);
    // A step whose screenshot is on disk is read back when asked for: a long run must not hold
    // every full-size frame in memory.
    const bool on_disk = !step.screenshot.empty() && !session_dir_.empty();
    rows_.push_back({step, on_disk ? QImage() : screenshot, thumbnail_of(screenshot), origin});
    endInsertRows();
}

void TimelineModel::load(const agent::LoadedSession& session) {
    beginResetModel();
    rows_.clear();
    session_dir_ = session.dir;
    for (const auto& s : session.steps) {
        QImage thumb;
        if (!s.screenshot.empty())
            thumb =
                thumbnail_of(QImage(QString::fromStdString((session.dir / s.screenshot).string())));
        rows_.push_back({s, {}, thumb});
    }
    endResetModel();
}

void TimelineModel::clear() {
    beginResetModel();
    rows_.clear();
    session_dir_.clear();
    endResetModel();
}

QImage TimelineModel::screenshot(int row) const {
    const Row& r = rows_.at(static_cast<std::size_t>(row));
    if (!r.full.isNull()) return r.full;
    if (r.record.screenshot.empty() || session_dir_.empty()) return {};
    return QImage(QString::fromStdString((session_dir_ / r.record.screenshot).string()));
}

}  // namespace deskpilot::panel
