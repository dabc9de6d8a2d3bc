// panel::ApprovalPanel: a pending action with Approve / Edit / Reject. Edit makes the screenshot
// marker draggable and the text / keys editable; Approve then sends the corrected action as an
// edit. Reject sends the feedback sentence to the model as the next user turn.
#pragma once

#include <QGroupBox>
#include <optional>

#include "agent/events.h"

Q_DECLARE_METATYPE(deskpilot::agent::ApprovalDecision)

class QLabel;
class QLineEdit;
class QPushButton;

namespace deskpilot::panel {

class ApprovalPanel : public QGroupBox {
    Q_OBJECT
  public:
    explicit ApprovalPanel(QWidget* parent = nullptr);

    void show_request(const agent::ApprovalRequest& request);
    void clear();
    // The action as it would be sent now (with the person's corrections).
    const std::optional<planner::Action>& current() const { return current_; }
    // Called by the screenshot view while the marker is dragged.
    void set_edited_action(const planner::Action& action);
    bool editing() const { return editing_; }

    QPushButton* approve_button() const { return approve_; }
    QPushButton* edit_button() const { return edit_; }
    QPushButton* reject_button() const { return reject_; }
    QLineEdit* text_edit() const { return text_; }
    QLineEdit* feedback_edit() const { return feedback_; }

  signals:
    void decided(const deskpilot::agent::ApprovalDecision& decision);
    void editingChanged(bool editing);

  private:
    void approve();
    void reject();
    void set_editing(bool on);
    void update_description();

    std::optional<agent::ApprovalRequest> request_;
    std::optional<planner::Action> current_;
    bool editing_ = false;
    QLabel *reason_, *action_;
    QLineEdit *text_, *feedback_;
    QPushButton *approve_, *edit_, *reject_;
};

}  // namespace deskpilot::panel
