// panel::AgentBridge: the agent's observer, turned into Qt signals. The agent calls it on its
// own thread; every signal is delivered to GUI-thread receivers through queued connections
// (RunController connects them so), and carries copies, never references into the agent.
#pragma once

#include <QImage>
#include <QObject>
#include <QString>

#include "agent/events.h"

Q_DECLARE_METATYPE(deskpilot::agent::StepRecord)
Q_DECLARE_METATYPE(deskpilot::agent::ApprovalRequest)
Q_DECLARE_METATYPE(deskpilot::agent::RunStatus)

namespace deskpilot::panel {

class AgentBridge : public QObject, public agent::AgentObserver {
    Q_OBJECT
  public:
    explicit AgentBridge(QObject* parent = nullptr);

    void on_run_started(const agent::Manifest&, const std::filesystem::path& session_dir) override;
    void on_screenshot(int step, const vision::Frame& frame) override;
    void on_model_text(int step, std::string_view chunk) override;
    void on_step_parsed(int step, const planner::Step& parsed) override;
    void on_action_pending(const agent::ApprovalRequest& request) override;
    void on_action_executed(int step, int index, const planner::Action& action,
                            const std::string& result) override;
    void on_step_recorded(const agent::StepRecord& record) override;
    void on_call_user(int step, const std::string& question) override;
    void on_paused() override;
    void on_resumed() override;
    void on_warning(const std::string& message) override;
    void on_error(const std::string& message) override;
    void on_run_finished(agent::RunStatus status, const std::string& message) override;

  signals:
    void runStarted(const QString& sessionDir);
    void screenshot(int step, const QImage& image, const QPoint& origin);
    void modelText(int step, const QString& chunk);
    void stepParsed(int step, const QString& thought);
    void actionPending(const deskpilot::agent::ApprovalRequest& request);
    void actionExecuted(int step, const QString& description, const QString& result);
    void stepRecorded(const deskpilot::agent::StepRecord& record);
    void callUser(int step, const QString& question);
    void paused();
    void resumed();
    void warning(const QString& message);
    void error(const QString& message);
    void runFinished(deskpilot::agent::RunStatus status, const QString& message);
};

}  // namespace deskpilot::panel
