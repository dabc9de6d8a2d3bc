#include "panel/qt_convert.h"

#include <nlohmann/json.hpp>

namespace deskpilot::panel {

QImage to_qimage(const vision::Frame& frame) {
    if (frame.empty()) return {};
    const QImage view(frame.pixels->data(), frame.width, frame.height,
                      static_cast<qsizetype>(frame.stride), QImage::Format_ARGB32);
    // The frame is BGRA in memory, which is Qt's ARGB32 on little-endian; drop alpha (X leaves it
    // 0).
    return view.convertToFormat(QImage::Format_RGB32);
}

QString describe(const planner::Action& action) {
    QString text = QString::fromUtf8(planner::to_string(action.type));
    if (action.point) text += QStringLiteral(" (%1, %2)").arg(action.point->x).arg(action.point->y);
    if (action.end) text += QStringLiteral(" → (%1, %2)").arg(action.end->x).arg(action.end->y);
    if (!action.keys.empty()) {
        QStringList keys;
        for (const auto& k : action.keys) keys << QString::fromStdString(k);
        text += QLatin1Char(' ') + keys.join(QLatin1Char('+'));
    }
    if (!action.direction.empty())
        text += QLatin1Char(' ') + QString::fromStdString(action.direction);
    if (!action.app_name.empty())
        text += QLatin1Char(' ') + QString::fromStdString(action.app_name);
    if (!action.text.empty()) {
        QString t = QString::fromStdString(action.text);
        t.replace(QLatin1Char('\n'), QStringLiteral("\\n"));
        text += QStringLiteral(" \"%1\"").arg(t);
    }
    return text;
}

QString describe_json(const nlohmann::json& action) {
    try {
        return describe(planner::action_from_json(action));
    } catch (const std::exception&) {
        return QString::fromStdString(action.dump());
    }
}

}  // namespace deskpilot::panel
