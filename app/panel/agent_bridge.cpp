#include "panel/agent_bridge.h"

#include "panel/qt_convert.h"

namespace deskpilot::panel {

AgentBridge::AgentBridge(QObject* parent) : QObject(parent) {
    qRegisterMetaType<agent::StepRecord>();
    qRegisterMetaType<agent::ApprovalRequest>();
    qRegisterMetaType<agent::RunStatus>();
}

void AgentBridge::on_run_started(const agent::Manifest&, const std::filesystem::path& dir) {
    emit runStarted(QString::fromStdString(dir.string()));
}
void AgentBridge::on_screenshot(int step, const vision::Frame& frame) {
    emit screenshot(step, to_qimage(frame), QPoint(frame.origin.x, frame.origin.y));
}
void AgentBridge::on_model_text(int step, std::string_view chunk) {
    emit modelText(step, QString::fromUtf8(chunk.data(), static_cast<qsizetype>(chunk.size())));
}
void AgentBridge::on_step_parsed(int step, const planner::Step& parsed) {
    emit stepParsed(step, QString::fromStdString(parsed.thought));
}
void AgentBridge::on_action_pending(const agent::ApprovalRequest& request) {
    emit actionPending(request);
}
void AgentBridge::on_action_executed(int step, int, const planner::Action& action,
                                     const std::string& result) {
    emit actionExecuted(step, describe(action), QString::fromStdString(result));
}
void AgentBridge::on_step_recorded(const agent::StepRecord& record) {
    emit stepRecorded(record);
}
void AgentBridge::on_call_user(int step, const std::string& question) {
    emit callUser(step, QString::fromStdString(question));
}
void AgentBridge::on_paused() {
    emit paused();
}
void AgentBridge::on_resumed() {
    emit resumed();
}
void AgentBridge::on_warning(const std::string& message) {
    emit warning(QString::fromStdString(message));
}
void AgentBridge::on_error(const std::string& message) {
    emit error(QString::fromStdString(message));
}
void AgentBridge::on_run_finished(agent::RunStatus status, const std::string& message) {
    emit runFinished(status, QString::fromStdString(message));
}

}  // namespace deskpilot::panel
