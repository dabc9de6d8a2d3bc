// panel::MainWindow: the supervision console. A start-run form, the live screenshot with the
// pending action, the streaming thought, the timeline, Run / Pause / Resume / Step / Stop, the
// approval panel, a session browser, a status bar. The agent runs on a worker thread and is
// reached only through RunControl; its events arrive through AgentBridge's queued signals.
#pragma once

#include <QImage>
#include <QMainWindow>
#include <QPointer>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "actuators/actuator.h"
#include "agent/agent_loop.h"
#include "model/vlm.h"
#include "panel/run_state.h"
#include "panel/start_form.h"
#include "vision/screen_source.h"

class QAction;
class QLabel;
class QPlainTextEdit;
class QPushButton;
class QSettings;
class QTableView;
class QTabWidget;
class QDoubleSpinBox;
class QComboBox;
class QSplitter;

namespace deskpilot::panel {

class AgentBridge;
class ApprovalPanel;
class GlobalHotkey;
class ScreenshotView;
class SessionListModel;
class TimelineModel;

// What a run drives: built from the form's settings when Run is pressed (X11 and a remote model
// by default; tests may put in their own).
struct Backend {
    std::unique_ptr<vision::ScreenSource> screen;
    std::unique_ptr<model::Vlm> model;
    std::unique_ptr<actuators::Actuator> actuator;
    std::string model_name, endpoint_host;
};
// Called on a loader thread (building a backend may take seconds), never on the GUI thread.
using BackendFactory = std::function<Backend(const RunSettings&)>;
Backend make_default_backend(const RunSettings& settings);

class MainWindow : public QMainWindow {
    Q_OBJECT
  public:
    // `settings` stores the form and window state; `sessions_root` is where runs are recorded
    // and browsed.
    MainWindow(std::shared_ptr<QSettings> settings, std::filesystem::path sessions_root,
               QWidget* parent = nullptr);
    ~MainWindow() override;

    void set_backend_factory(BackendFactory factory) { factory_ = std::move(factory); }
    // Applied to every AgentConfig before a run starts (tests shorten settle times).
    void set_config_hook(std::function<void(agent::AgentConfig&)> hook) {
        config_hook_ = std::move(hook);
    }
    // The emergency hotkey, "ctrl+alt+Escape" style (GlobalHotkey::parse); empty disables it.
    void set_hotkey(const QString& spec) { hotkey_spec_ = spec; }

    RunState state() const { return state_; }
    StartForm* form() const { return form_; }
    TimelineModel* timeline() const { return timeline_model_; }
    SessionListModel* sessions() const { return sessions_model_; }
    ScreenshotView* view() const { return view_; }
    ApprovalPanel* approval() const { return approval_; }
    QPushButton* button(const QString& name) const;
    QDoubleSpinBox* replay_speed() const { return replay_speed_; }
    QTableView* sessions_view() const { return sessions_view_; }
    QString last_error() const { return last_error_; }
    QString session_dir() const { return session_dir_; }
    bool hotkey_active() const { return hotkey_ != nullptr; }
    // Why the emergency hotkey could not be grabbed for the current run (empty when it was).
    QString hotkey_error() const { return hotkey_error_; }
    QLabel* hotkey_warning() const { return status_hotkey_; }
    QTableView* timeline_view() const { return timeline_view_; }
    // Whether the live view follows the newest step (off while the person looks at an earlier
    // one during a run).
    bool following() const { return following_; }
    QPushButton* follow_button() const { return follow_; }
    QPlainTextEdit* thought_view() const { return thought_; }
    QSplitter* main_splitter() const { return main_splitter_; }
    QSplitter* view_splitter() const { return view_splitter_; }

  public slots:
    void start_run();
    void pause();
    void resume();
    void step();
    void stop();
    // Session browser actions on the selected (or given) session.
    void open_session(const QString& dir);
    void export_report(const QString& dir, const QString& output);
    void replay_session(const QString& dir);

  signals:
    void stateChanged(deskpilot::panel::RunState state);
    void callUserAsked(const QString& question);
    void runEnded(const QString& status, const QString& message);

  protected:
    void closeEvent(QCloseEvent*) override;

  private:
    struct PreparedBackend {
        Backend backend;
        QString error;
    };
    // The second half of start_run, on the GUI thread once the loader thread has built the
    // backend (or failed to).
    void backend_ready(const RunSettings& settings, PreparedBackend& prepared);
    void set_state(RunState state);
    void start_hotkey(const QString& display);
    void connect_bridge();
    void finish_worker();
    void show_error(const QString& message);
    void build_ui();
    void update_status();
    // Live view vs an earlier step: show_step() puts a timeline row in the view and the thought
    // pane; set_following(true) brings back the live screenshot, action and streamed text.
    void show_step(int row);
    void show_live();
    void set_following(bool on);
    void select_last_row();
    void save_window_state();
    // Empty: the hotkey is grabbed (or disabled); else the warning in the status bar and on
    // the Stop button's tooltip.
    void set_hotkey_warning(const QString& error);
    void restore_window_state();

    std::shared_ptr<QSettings> settings_;
    std::filesystem::path sessions_root_;
    BackendFactory factory_ = make_default_backend;
    std::function<void(agent::AgentConfig&)> config_hook_;
    QString hotkey_spec_ = QStringLiteral("ctrl+alt+Escape");

    RunState state_ = RunState::idle;
    std::unique_ptr<agent::RunControl> control_;
    Backend backend_;
    std::unique_ptr<agent::Agent> agent_;
    std::thread worker_;
    std::thread loader_;  // builds the backend of the run being started
    bool start_cancelled_ = false;
    std::unique_ptr<GlobalHotkey> hotkey_;
    AgentBridge* bridge_;
    QString last_error_, session_dir_, hotkey_error_;
    // The live run's latest screenshot, action and streamed answer, kept while the person looks
    // at an earlier step.
    QImage live_image_;
    QPoint live_origin_;
    std::optional<planner::Action> live_action_;
    QString streamed_;
    bool following_ = true;
    bool selecting_ = false;  // the window itself moves the timeline selection
    int current_step_ = 0, max_steps_ = 0;
    double last_model_ms_ = 0, last_capture_ms_ = 0;

    StartForm* form_;
    ScreenshotView* view_;
    QPlainTextEdit* thought_;
    QPlainTextEdit* log_;
    TimelineModel* timeline_model_;
    QTableView* timeline_view_;
    SessionListModel* sessions_model_;
    QTableView* sessions_view_;
    ApprovalPanel* approval_;
    QTabWidget* tabs_;
    QPushButton *run_, *pause_, *resume_, *step_, *stop_, *follow_;
    QSplitter *main_splitter_, *view_splitter_;
    QDoubleSpinBox* replay_speed_;
    QComboBox* replay_verify_;
    QLabel *status_state_, *status_step_, *status_model_, *status_capture_, *status_hotkey_;
    QPointer<QWidget> call_user_dialog_;
};

}  // namespace deskpilot::panel
