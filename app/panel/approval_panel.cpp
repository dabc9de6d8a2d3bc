#include "panel/approval_panel.h"

#include <QGridLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>

#include "panel/qt_convert.h"

namespace deskpilot::panel {

namespace {
bool edits_text(const planner::Action& a) {
    return planner::shape_of(a.type).text;
}
bool edits_keys(const planner::Action& a) {
    return planner::shape_of(a.type).keys;
}
}  // namespace

ApprovalPanel::ApprovalPanel(QWidget* parent) : QGroupBox(tr("Pending action"), parent) {
    qRegisterMetaType<agent::ApprovalDecision>();
    setObjectName(QStringLiteral("Approval"));
    setAccessibleName(tr("Pending action"));
    reason_ = new QLabel;
    reason_->setAccessibleName(tr("Why approval is needed"));
    reason_->setWordWrap(true);
    action_ = new QLabel;
    action_->setAccessibleName(tr("Pending action description"));
    text_ = new QLineEdit;
    text_->setAccessibleName(tr("Action text or keys"));
    text_->setPlaceholderText(tr("text to type, or keys joined with +"));
    feedback_ = new QLineEdit;
    feedback_->setAccessibleName(tr("Rejection feedback"));
    feedback_->setPlaceholderText(tr("Why not? (sent to the model when you reject)"));
    approve_ = new QPushButton(tr("Approve"));
    approve_->setAccessibleName(tr("Approve"));
    approve_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return));
    approve_->setToolTip(tr("Run this action (Ctrl+Enter)"));
    edit_ = new QPushButton(tr("Edit"));
    edit_->setAccessibleName(tr("Edit"));
    edit_->setCheckable(true);
    edit_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
    edit_->setToolTip(
        tr("Drag the marker on the screenshot or edit the text, then Approve (Ctrl+E)"));
    reject_ = new QPushButton(tr("Reject"));
    reject_->setAccessibleName(tr("Reject"));
    reject_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_J));
    reject_->setToolTip(tr("Refuse this action and send the feedback to the model (Ctrl+J)"));

    auto* grid = new QGridLayout(this);
    grid->addWidget(reason_, 0, 0, 1, 3);
    grid->addWidget(action_, 1, 0, 1, 3);
    grid->addWidget(text_, 2, 0, 1, 3);
    grid->addWidget(approve_, 3, 0);
    grid->addWidget(edit_, 3, 1);
    grid->addWidget(reject_, 3, 2);
    grid->addWidget(feedback_, 4, 0, 1, 3);

    connect(approve_, &QPushButton::clicked, this, &ApprovalPanel::approve);
    connect(reject_, &QPushButton::clicked, this, &ApprovalPanel::reject);
    connect(edit_, &QPushButton::toggled, this, &ApprovalPanel::set_editing);
    connect(text_, &QLineEdit::textEdited, this, [this](const QString& t) {
        if (!current_) return;
        if (edits_keys(*current_)) {
            current_->keys.clear();
            for (const auto& k : t.split(QLatin1Char('+'), Qt::SkipEmptyParts))
                current_->keys.push_back(k.trimmed().toLower().toStdString());
        } else {
            // "\n" typed as two characters means Enter, as in the model's grammar.
            current_->text =
                QString(t).replace(QStringLiteral("\\n"), QStringLiteral("\n")).toStdString();
        }
        update_description();
    });
    clear();
}

void ApprovalPanel::show_request(const agent::ApprovalRequest& request) {
    request_ = request;
    current_ = request.action;
    reason_->setText(
        tr("Step %1: %2").arg(request.step).arg(QString::fromStdString(request.reason)));
    feedback_->clear();
    if (edits_keys(request.action)) {
        QStringList keys;
        for (const auto& k : request.action.keys) keys << QString::fromStdString(k);
        text_->setText(keys.join('+'));
    } else {
        text_->setText(
            QString::fromStdString(request.action.text).replace('\n', QStringLiteral("\\n")));
    }
    setEnabled(true);
    update_description();
    set_editing(false);
}

void ApprovalPanel::clear() {
    request_.reset();
    current_.reset();
    reason_->setText(tr("No action is waiting."));
    action_->clear();
    text_->clear();
    edit_->setChecked(false);
    setEnabled(false);
}

void ApprovalPanel::set_edited_action(const planner::Action& action) {
    if (!current_) return;
    current_ = action;
    update_description();
}

void ApprovalPanel::set_editing(bool on) {
    editing_ = on && current_;
    edit_->setChecked(editing_);
    text_->setReadOnly(!(editing_ && current_ && (edits_text(*current_) || edits_keys(*current_))));
    emit editingChanged(editing_);
}

void ApprovalPanel::update_description() {
    action_->setText(current_ ? describe(*current_) : QString());
}

void ApprovalPanel::approve() {
    if (!request_ || !current_) return;
    agent::ApprovalDecision d;
    if (*current_ == request_->action) {
        d.kind = agent::ApprovalDecision::Kind::approve;
    } else {
        d.kind = agent::ApprovalDecision::Kind::edit;
        d.edited = *current_;
    }
    clear();
    emit editingChanged(false);
    emit decided(d);
}

void ApprovalPanel::reject() {
    if (!request_) return;
    agent::ApprovalDecision d;
    d.kind = agent::ApprovalDecision::Kind::reject;
    d.feedback = feedback_->text().trimmed().toStdString();
    clear();
    emit editingChanged(false);
    emit decided(d);
}

}  // namespace deskpilot::panel
