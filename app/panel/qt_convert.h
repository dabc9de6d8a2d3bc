// Conversions between the agent's plain value types and Qt types, shared by the panel's views.
#pragma once

#include <QImage>
#include <QString>

#include "planner/action.h"
#include "vision/frame.h"

namespace deskpilot::panel {

// A deep copy of a BGRA8 frame (safe to hand to another thread).
QImage to_qimage(const vision::Frame& frame);
// One line describing an action, e.g. "click (100, 200)", "type \"hello\\n\"".
QString describe(const planner::Action& action);
// The same for an action as recorded in a session (JSON); unreadable JSON is shown as is.
QString describe_json(const nlohmann::json& action);

}  // namespace deskpilot::panel
