// panel::StartForm: the start-run settings — task, the backend (an endpoint / model / API-key
// variable, or a local model directory for the native engine), family, max steps, approval mode,
// history, display — remembered in QSettings between launches.
#pragma once

#include <QWidget>

class QComboBox;
class QLineEdit;
class QSettings;
class QSpinBox;
class QPushButton;
class QLabel;

namespace deskpilot::panel {

// Which model a run uses: an OpenAI-compatible endpoint, or the in-process native engine on a
// local model directory.
inline const QString kBackendEndpoint = QStringLiteral("endpoint");
inline const QString kBackendLocal = QStringLiteral("local");

struct RunSettings {
    QString task, endpoint, model, api_key_env, family, approval, display;
    int max_steps = 50, history = 5;
    QString backend = kBackendEndpoint;  // kBackendEndpoint or kBackendLocal
    QString model_dir;                   // the local backend's model folder
    int max_pixels = 0;  // the local backend's pixel cap per screenshot (0: the model's own)
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
    QComboBox* backend_box() const { return backend_; }
    QLineEdit* model_dir_edit() const { return model_dir_; }

  signals:
    void checked(const QString& result);

  private:
    // Enables the fields of the chosen backend only, so it is clear which ones a run uses.
    void backend_changed();
    void follow_model_family();

    QLineEdit *task_, *endpoint_, *model_, *key_env_, *display_, *model_dir_;
    QComboBox *backend_, *family_, *approval_;
    QSpinBox *max_steps_, *history_, *max_pixels_;
    QPushButton *check_, *browse_;
    QLabel* check_result_;
};

}  // namespace deskpilot::panel
