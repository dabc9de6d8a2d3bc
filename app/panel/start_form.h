// panel::StartForm: the start-run settings — task, endpoint / model / API-key variable, family,
// max steps, approval mode, history, display — remembered in QSettings between launches.
#pragma once

#include <QWidget>

class QComboBox;
class QLineEdit;
class QSettings;
class QSpinBox;
class QPushButton;
class QLabel;

namespace deskpilot::panel {

struct RunSettings {
    QString task, endpoint, model, api_key_env, family, approval, display;
    int max_steps = 50, history = 5;
};

class StartForm : public QWidget {
    Q_OBJECT
  public:
    explicit StartForm(QWidget* parent = nullptr);

    RunSettings settings() const;
    void set_settings(const RunSettings& s);
    void load(QSettings& store);
    void save(QSettings& store) const;
    // Lists the endpoint's models below the form, in the background; checked() brings the
    // result (at most about 5 s later).
    void check_endpoint();

    QLineEdit* task_edit() const { return task_; }

  signals:
    void checked(const QString& result);

  private:
    QLineEdit *task_, *endpoint_, *model_, *key_env_, *display_;
    QComboBox *family_, *approval_;
    QSpinBox *max_steps_, *history_;
    QPushButton* check_;
    QLabel* check_result_;
};

}  // namespace deskpilot::panel
