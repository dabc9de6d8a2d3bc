#include "panel/main_window.h"

#include <QApplication>
#include <QCloseEvent>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QShortcut>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableView>
#include <QVBoxLayout>

#include "actuators/key_names.h"
#include "actuators/x11_actuator.h"
#include "agent/replay.h"
#include "agent/report.h"
#include "model/engine/native_vlm.h"
#include "model/remote/remote_vlm.h"
#include "panel/agent_bridge.h"
#include "panel/approval_panel.h"
#include "panel/global_hotkey.h"
#include "panel/screenshot_view.h"
#include "panel/session_list_model.h"
#include "panel/timeline_model.h"
#include "vision/x11_screen_source.h"

namespace deskpilot::panel {

namespace {

std::string host_of(const std::string& endpoint) {
    auto rest =
        endpoint.substr(endpoint.find("://") == std::string::npos ? 0 : endpoint.find("://") + 3);
    return rest.substr(0, rest.find_first_of("/?#"));
}

// A folder for a new session that no session holds yet: folder names have a one-second
// resolution, and a person may stop and start the same task again within that second.
std::filesystem::path new_session_dir(const std::filesystem::path& root, const std::string& task) {
    const std::string name = agent::session_folder_name(task);
    std::filesystem::path dir = root / name;
    for (int n = 2; std::filesystem::exists(dir); ++n)
        dir = root / (name + "-" + std::to_string(n));
    return dir;
}

QPushButton* control_button(const QString& text, const QString& name, const QKeySequence& key,
                            const QString& tip) {
    auto* b = new QPushButton(text);
    b->setObjectName(name);
    b->setAccessibleName(name);
    b->setShortcut(key);
    b->setToolTip(tip + QStringLiteral(" (") + key.toString(QKeySequence::NativeText) +
                  QLatin1Char(')'));
    return b;
}

}  // namespace

Backend make_default_backend(const RunSettings& s) {
    Backend b;
    // The model first: a mistyped model folder is named before the display is touched.
    if (s.backend == kBackendLocal) {
        if (s.model_dir.trimmed().isEmpty())
            throw std::runtime_error("no local model directory is set");
        // A cap would show the model a smaller screenshot than a family with absolute
        // coordinates maps its clicks from.
        if (const std::string problem =
                model::native_pixel_cap_problem(s.family.toStdString(), s.max_pixels);
            !problem.empty())
            throw std::runtime_error(problem);
        // Throws ModelError naming the folder: missing, no config.json / tokenizer.json /
        // weights, an architecture the engine does not run.
        auto native = std::make_unique<model::NativeVlm>(
            model::NativeVlmConfig{.model_dir = s.model_dir.toStdString(),
                                   .max_pixels = s.max_pixels,
                                   .key_names = actuators::key_name_list()});
        b.model_name = native->describe();
        b.model = std::move(native);
    }
    const std::string display = s.display.toStdString();
    b.screen = std::make_unique<vision::X11ScreenSource>(display);
    b.actuator = std::make_unique<actuators::X11Actuator>(display);
    if (s.backend != kBackendLocal && !s.endpoint.isEmpty()) {
        model::RemoteConfig config;
        config.endpoint = s.endpoint.toStdString();
        config.model = s.model.toStdString();
        config.api_key_env = s.api_key_env.toStdString();
        b.model = std::make_unique<model::RemoteVlm>(config);
        b.model_name = config.model;
        b.endpoint_host = host_of(config.endpoint);
    }
    return b;
}

MainWindow::MainWindow(std::shared_ptr<QSettings> settings, std::filesystem::path sessions_root,
                       QWidget* parent)
    : QMainWindow(parent),
      settings_(std::move(settings)),
      sessions_root_(std::move(sessions_root)) {
    bridge_ = new AgentBridge(this);
    build_ui();
    connect_bridge();
    form_->load(*settings_);
    restore_window_state();
    sessions_model_->set_root(sessions_root_);
    set_state(RunState::idle);
}

MainWindow::~MainWindow() {
    if (control_) control_->stop();
    hotkey_.reset();
    if (loader_.joinable()) loader_.join();
    if (worker_.joinable()) worker_.join();
}

void MainWindow::build_ui() {
    setWindowTitle(tr("Deskpilot"));
    form_ = new StartForm;
    view_ = new ScreenshotView;
    thought_ = new QPlainTextEdit;
    thought_->setObjectName(QStringLiteral("Thought"));
    thought_->setReadOnly(true);
    thought_->setAccessibleName(tr("Model thought"));
    thought_->setPlaceholderText(tr("The model's answer streams here."));
    thought_->setMaximumBlockCount(2000);
    log_ = new QPlainTextEdit;
    log_->setReadOnly(true);
    log_->setAccessibleName(tr("Run log"));
    approval_ = new ApprovalPanel;

    timeline_model_ = new TimelineModel(this);
    timeline_view_ = new QTableView;
    timeline_view_->setObjectName(QStringLiteral("Timeline"));
    timeline_view_->setModel(timeline_model_);
    timeline_view_->setAccessibleName(tr("Timeline"));
    timeline_view_->setSelectionBehavior(QAbstractItemView::SelectRows);
    timeline_view_->setSelectionMode(QAbstractItemView::SingleSelection);
    timeline_view_->verticalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    timeline_view_->horizontalHeader()->setStretchLastSection(true);
    connect(timeline_view_->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this](const QModelIndex& i) {
                if (!i.isValid() || selecting_) return;
                if (state_ == RunState::idle) return show_step(i.row());
                // During a run the newest row means "follow the run"; an earlier one holds the
                // view on that step while the run goes on.
                if (i.row() == timeline_model_->rowCount() - 1) return set_following(true);
                set_following(false);
                show_step(i.row());
            });

    sessions_model_ = new SessionListModel(this);
    sessions_view_ = new QTableView;
    sessions_view_->setModel(sessions_model_);
    sessions_view_->setAccessibleName(tr("Sessions"));
    sessions_view_->setSelectionBehavior(QAbstractItemView::SelectRows);
    sessions_view_->setSelectionMode(QAbstractItemView::SingleSelection);
    sessions_view_->horizontalHeader()->setStretchLastSection(true);
    auto selected_session = [this]() -> QString {
        const auto i = sessions_view_->currentIndex();
        return i.isValid() ? sessions_model_->data(i, SessionListModel::PathRole).toString()
                           : QString();
    };
    auto* open = control_button(tr("Open"), tr("Open session"), QKeySequence(Qt::CTRL | Qt::Key_O),
                                tr("Show the session in the timeline"));
    auto* replay =
        control_button(tr("Replay"), tr("Replay session"), QKeySequence(Qt::CTRL | Qt::Key_P),
                       tr("Replay the session on the display"));
    auto* report =
        control_button(tr("Export report"), tr("Export report"),
                       QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_R), tr("Write the HTML report"));
    auto* refresh = control_button(tr("Refresh"), tr("Refresh sessions"), QKeySequence(Qt::Key_F5),
                                   tr("List the sessions again"));
    replay_speed_ = new QDoubleSpinBox;
    replay_speed_->setAccessibleName(tr("Replay speed"));
    replay_speed_->setRange(0.25, 16);
    replay_speed_->setValue(1);
    replay_verify_ = new QComboBox;
    replay_verify_->setAccessibleName(tr("Replay verification"));
    replay_verify_->addItems(
        {QStringLiteral("loose"), QStringLiteral("strict"), QStringLiteral("off")});
    connect(open, &QPushButton::clicked, this, [this, selected_session] {
        if (!selected_session().isEmpty()) open_session(selected_session());
    });
    connect(sessions_view_, &QTableView::doubleClicked, this,
            [this, selected_session] { open_session(selected_session()); });
    connect(replay, &QPushButton::clicked, this, [this, selected_session] {
        if (!selected_session().isEmpty()) replay_session(selected_session());
    });
    connect(report, &QPushButton::clicked, this, [this, selected_session] {
        const QString dir = selected_session();
        if (dir.isEmpty()) return;
        const QString out = QFileDialog::getSaveFileName(
            this, tr("Export report"), dir + QStringLiteral("/report.html"), tr("HTML (*.html)"));
        if (!out.isEmpty()) export_report(dir, out);
    });
    connect(refresh, &QPushButton::clicked, this, [this] { sessions_model_->refresh(); });
    auto* sessions_page = new QWidget;
    auto* sl = new QVBoxLayout(sessions_page);
    sl->addWidget(sessions_view_);
    auto* sb = new QHBoxLayout;
    for (QWidget* w : std::initializer_list<QWidget*>{open, replay, new QLabel(tr("Speed:")),
                                                      replay_speed_, new QLabel(tr("Verify:")),
                                                      replay_verify_, report, refresh})
        sb->addWidget(w);
    sl->addLayout(sb);

    run_ = control_button(tr("Run"), tr("Run"), QKeySequence(Qt::CTRL | Qt::Key_R),
                          tr("Start a run with these settings"));
    pause_ = control_button(tr("Pause"), tr("Pause"), QKeySequence(Qt::Key_F6),
                            tr("Pause after the current step"));
    resume_ = control_button(tr("Resume"), tr("Resume"), QKeySequence(Qt::Key_F7),
                             tr("Continue the run"));
    step_ = control_button(tr("Step"), tr("Step"), QKeySequence(Qt::Key_F8),
                           tr("Run one more step, then pause"));
    stop_ = control_button(tr("Stop"), tr("Stop"), QKeySequence(Qt::Key_Escape),
                           tr("Stop the run now"));
    connect(run_, &QPushButton::clicked, this, &MainWindow::start_run);
    connect(pause_, &QPushButton::clicked, this, &MainWindow::pause);
    connect(resume_, &QPushButton::clicked, this, &MainWindow::resume);
    connect(step_, &QPushButton::clicked, this, &MainWindow::step);
    connect(stop_, &QPushButton::clicked, this, &MainWindow::stop);
    stop_->setShortcut({});  // the window-wide Esc shortcut below; two would be ambiguous
    follow_ =
        control_button(tr("Follow latest"), tr("Follow latest"), QKeySequence(Qt::CTRL | Qt::Key_L),
                       tr("Show each new step as it happens (selecting an earlier step in "
                          "the timeline holds the view on it)"));
    follow_->setCheckable(true);
    follow_->setChecked(true);
    connect(follow_, &QPushButton::toggled, this, [this](bool on) { set_following(on); });
    // Esc stops from anywhere in the window, even when focus is in a text field.
    auto* esc = new QShortcut(QKeySequence(Qt::Key_Escape), this, this, &MainWindow::stop);
    esc->setContext(Qt::WindowShortcut);

    connect(approval_, &ApprovalPanel::decided, this, [this](const agent::ApprovalDecision& d) {
        view_->set_editable(false);
        if (!control_) return;
        set_state(RunState::running);
        control_->decide(d);
    });
    connect(approval_, &ApprovalPanel::editingChanged, this, [this](bool on) {
        if (on) set_following(true);  // a correction is made on the live screenshot only
        view_->set_editable(on);
    });
    connect(view_, &ScreenshotView::actionEdited, this, [this](const planner::Action& a) {
        live_action_ = a;
        approval_->set_edited_action(a);
    });

    auto* controls = new QHBoxLayout;
    for (auto* b : {run_, pause_, resume_, step_, stop_, follow_}) controls->addWidget(b);
    auto* left = new QWidget;
    auto* ll = new QVBoxLayout(left);
    ll->addWidget(form_);
    ll->addLayout(controls);
    ll->addWidget(approval_);
    ll->addWidget(new QLabel(tr("Thought:")));
    ll->addWidget(thought_, 1);

    tabs_ = new QTabWidget;
    tabs_->setAccessibleName(tr("Views"));
    tabs_->addTab(timeline_view_, tr("Time&line"));
    tabs_->addTab(sessions_page, tr("Sess&ions"));
    tabs_->addTab(log_, tr("Lo&g"));

    auto* right = new QSplitter(Qt::Vertical);
    right->setObjectName(QStringLiteral("ViewSplitter"));
    view_splitter_ = right;
    right->addWidget(view_);
    right->addWidget(tabs_);
    right->setStretchFactor(0, 3);
    right->setStretchFactor(1, 2);
    auto* main = new QSplitter(Qt::Horizontal);
    main->setObjectName(QStringLiteral("MainSplitter"));
    main->addWidget(left);
    main->addWidget(right);
    main->setStretchFactor(1, 2);
    main_splitter_ = main;
    setCentralWidget(main);

    const auto status_label = [](const QString& object_name, const QString& accessible_name) {
        auto* label = new QLabel;
        label->setObjectName(object_name);
        label->setAccessibleName(accessible_name);
        return label;
    };
    status_state_ = status_label(QStringLiteral("StatusState"), tr("Run state"));
    status_step_ = status_label(QStringLiteral("StatusStep"), tr("Step"));
    status_model_ = status_label(QStringLiteral("StatusModel"), tr("Model latency"));
    status_capture_ = status_label(QStringLiteral("StatusCapture"), tr("Capture time"));
    // Shown while a run has no emergency hotkey (the grab failed), so the person knows that
    // only Stop / Esc in the panel will stop it.
    status_hotkey_ = status_label(QStringLiteral("HotkeyWarning"), tr("Emergency hotkey warning"));
    status_hotkey_->setStyleSheet(QStringLiteral("color: #b00000; font-weight: bold"));
    status_hotkey_->hide();
    for (auto* l : {status_hotkey_, status_state_, status_step_, status_model_, status_capture_})
        statusBar()->addPermanentWidget(l);
    set_hotkey_warning({});
}

void MainWindow::set_hotkey_warning(const QString& error) {
    hotkey_error_ = error;
    const QString key = hotkey_spec_.isEmpty() ? QString() : hotkey_spec_;
    if (error.isEmpty()) {
        status_hotkey_->hide();
        stop_->setToolTip(
            key.isEmpty()
                ? tr("Stop the run now (Esc)")
                : tr("Stop the run now (Esc; %1 anywhere on the driven display)").arg(key));
        return;
    }
    const QString warning =
        tr("No emergency hotkey for this run: %1. Only Stop or Esc in the panel stop it.")
            .arg(error);
    status_hotkey_->setText(tr("No emergency hotkey"));
    status_hotkey_->setToolTip(warning);
    status_hotkey_->show();
    stop_->setToolTip(
        tr("Stop the run now (Esc). The emergency hotkey %1 is NOT available: %2").arg(key, error));
    log_->appendPlainText(tr("warning: ") + warning);
    statusBar()->showMessage(warning);
}

void MainWindow::show_step(int row) {
    if (row < 0 || row >= timeline_model_->rowCount()) return;
    const agent::StepRecord& s = timeline_model_->step(row);
    std::optional<planner::Action> action;
    if (!s.actions.empty()) {
        try {
            action = planner::action_from_json(s.actions.front());
        } catch (const std::exception&) {
        }
    }
    view_->set_editable(false);
    view_->set_image(timeline_model_->screenshot(row), timeline_model_->origin(row));
    view_->set_action(action);
    // The step's details: the model's whole answer, then any result that was not "ok" (a parse
    // error, a refused or failed action).
    QString text = QString::fromStdString(s.raw_response.empty() ? s.thought : s.raw_response);
    for (const auto& r : s.results)
        if (r.is_string() && r.get<std::string>() != "ok")
            text += QStringLiteral("\n\n") + QString::fromStdString(r.get<std::string>());
    thought_->setPlainText(text);
}

void MainWindow::show_live() {
    view_->set_image(live_image_, live_origin_);
    view_->set_action(live_action_);
    view_->set_editable(approval_->editing());
    thought_->setPlainText(streamed_);
    thought_->moveCursor(QTextCursor::End);
}

void MainWindow::set_following(bool on) {
    {
        const QSignalBlocker block(follow_);
        follow_->setChecked(on);
    }
    const bool was = following_;
    following_ = on;
    if (!on || state_ == RunState::idle) return;
    if (!was) show_live();
    select_last_row();
}

void MainWindow::select_last_row() {
    const int last = timeline_model_->rowCount() - 1;
    if (last < 0) return;
    selecting_ = true;
    timeline_view_->selectRow(last);
    timeline_view_->scrollToBottom();
    selecting_ = false;
}

void MainWindow::save_window_state() {
    settings_->setValue(QStringLiteral("window/geometry"), saveGeometry());
    settings_->setValue(QStringLiteral("window/state"), saveState());
    settings_->setValue(QStringLiteral("window/main_splitter"), main_splitter_->saveState());
    settings_->setValue(QStringLiteral("window/view_splitter"), view_splitter_->saveState());
    settings_->setValue(QStringLiteral("window/timeline_header"),
                        timeline_view_->horizontalHeader()->saveState());
    settings_->setValue(QStringLiteral("window/tab"), tabs_->currentIndex());
}

void MainWindow::restore_window_state() {
    const auto bytes = [this](const char* key) {
        return settings_->value(QLatin1String(key)).toByteArray();
    };
    restoreGeometry(bytes("window/geometry"));
    restoreState(bytes("window/state"));
    main_splitter_->restoreState(bytes("window/main_splitter"));
    view_splitter_->restoreState(bytes("window/view_splitter"));
    timeline_view_->horizontalHeader()->restoreState(bytes("window/timeline_header"));
    tabs_->setCurrentIndex(settings_->value(QStringLiteral("window/tab"), 0).toInt());
}

QPushButton* MainWindow::button(const QString& name) const {
    for (auto* b : {run_, pause_, resume_, step_, stop_})
        if (b->objectName() == name) return b;
    return findChild<QPushButton*>(name);
}

void MainWindow::set_state(RunState state) {
    state_ = state;
    const ControlEnables e = enables_for(state);
    run_->setEnabled(e.run);
    pause_->setEnabled(e.pause);
    resume_->setEnabled(e.resume);
    step_->setEnabled(e.step);
    stop_->setEnabled(e.stop);
    form_->setEnabled(e.form);
    approval_->setEnabled(e.approval);
    update_status();
    emit stateChanged(state);
}

void MainWindow::update_status() {
    status_state_->setText(to_string(state_));
    status_step_->setText(tr("step %1/%2").arg(current_step_).arg(max_steps_));
    status_model_->setText(tr("model %1 ms").arg(last_model_ms_, 0, 'f', 0));
    status_capture_->setText(tr("capture %1 ms").arg(last_capture_ms_, 0, 'f', 0));
}

void MainWindow::show_error(const QString& message) {
    last_error_ = message;
    log_->appendPlainText(tr("error: ") + message);
    statusBar()->showMessage(message, 10000);
}

void MainWindow::connect_bridge() {
    const auto q = Qt::QueuedConnection;
    connect(
        bridge_, &AgentBridge::runStarted, this,
        [this](const QString& dir) {
            session_dir_ = dir;
            timeline_model_->set_session_dir(dir.toStdString());
            log_->appendPlainText(tr("recording to %1").arg(dir));
        },
        q);
    connect(
        bridge_, &AgentBridge::screenshot, this,
        [this](int step, const QImage& image, const QPoint& origin) {
            current_step_ = step;
            streamed_.clear();
            live_image_ = image;
            live_origin_ = origin;
            live_action_.reset();
            if (following_) {
                thought_->clear();
                view_->set_image(image, origin);
                view_->set_action(std::nullopt);
            }
            update_status();
        },
        q);
    connect(
        bridge_, &AgentBridge::modelText, this,
        [this](int, const QString& chunk) {
            streamed_ += chunk;
            if (!following_) return;
            thought_->moveCursor(QTextCursor::End);
            thought_->insertPlainText(chunk);
        },
        q);
    connect(
        bridge_, &AgentBridge::actionPending, this,
        [this](const agent::ApprovalRequest& r) {
            // The decision is made on the live screenshot: back to it.
            live_action_ = r.action;
            set_following(true);
            view_->set_action(r.action);
            approval_->show_request(r);
            set_state(RunState::awaiting_approval);
            QApplication::alert(this);
        },
        q);
    connect(
        bridge_, &AgentBridge::actionExecuted, this,
        [this](int step, const QString& what, const QString& result) {
            log_->appendPlainText(tr("step %1: %2 → %3").arg(step).arg(what, result));
        },
        q);
    connect(
        bridge_, &AgentBridge::stepRecorded, this,
        [this](const agent::StepRecord& r) {
            timeline_model_->add_step(r, live_image_, live_origin_);
            if (!r.actions.empty()) {
                try {
                    live_action_ = planner::action_from_json(r.actions.front());
                } catch (const std::exception&) {
                }
            }
            if (following_) {
                view_->set_action(live_action_);
                select_last_row();
            }
            last_model_ms_ = r.model_ms;
            last_capture_ms_ = r.capture_ms;
            update_status();
        },
        q);
    connect(
        bridge_, &AgentBridge::callUser, this,
        [this](int, const QString& question) {
            set_state(RunState::awaiting_reply);
            auto* dialog = new QDialog(this);
            dialog->setObjectName(QStringLiteral("CallUserDialog"));
            dialog->setWindowTitle(tr("The agent asks"));
            dialog->setAccessibleName(tr("The agent asks"));
            dialog->setAttribute(Qt::WA_DeleteOnClose);
            auto* layout = new QVBoxLayout(dialog);
            auto* label = new QLabel(question);
            label->setWordWrap(true);
            label->setAccessibleName(tr("Question"));
            auto* answer = new QLineEdit;
            answer->setObjectName(QStringLiteral("Reply"));
            answer->setAccessibleName(tr("Reply"));
            auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
            layout->addWidget(label);
            layout->addWidget(answer);
            layout->addWidget(buttons);
            connect(buttons, &QDialogButtonBox::accepted, dialog, &QDialog::accept);
            connect(buttons, &QDialogButtonBox::rejected, dialog, &QDialog::reject);
            connect(dialog, &QDialog::accepted, this, [this, answer] {
                if (!control_) return;
                set_state(RunState::running);
                control_->reply(answer->text().toStdString());
            });
            // Cancel leaves the run waiting; Stop ends it.
            call_user_dialog_ = dialog;
            dialog->open();
            emit callUserAsked(question);
        },
        q);
    connect(
        bridge_, &AgentBridge::paused, this,
        [this] {
            if (state_ == RunState::running) set_state(RunState::paused);
        },
        q);
    connect(
        bridge_, &AgentBridge::warning, this,
        [this](const QString& w) { log_->appendPlainText(tr("warning: ") + w); }, q);
    connect(
        bridge_, &AgentBridge::error, this, [this](const QString& e) { show_error(e); }, q);
    connect(
        bridge_, &AgentBridge::runFinished, this,
        [this](agent::RunStatus status, const QString& message) {
            finish_worker();
            const QString s = QString::fromUtf8(agent::to_string(status));
            log_->appendPlainText(tr("run ended: %1 %2").arg(s, message));
            statusBar()->showMessage(tr("Run ended: %1 %2").arg(s, message));
            sessions_model_->refresh();
            emit runEnded(s, message);
        },
        q);
}

void MainWindow::start_run() {
    if (state_ != RunState::idle) return;
    const RunSettings s = form_->settings();
    if (s.task.trimmed().isEmpty()) {
        show_error(tr("Enter a task first."));
        form_->task_edit()->setFocus();
        return;
    }
    form_->save(*settings_);
    last_error_.clear();
    start_cancelled_ = false;
    set_state(RunState::starting);
    statusBar()->showMessage(s.backend == kBackendLocal
                                 ? tr("Loading the model from %1 …").arg(s.model_dir)
                                 : tr("Starting …"));
    // Building the backend can take seconds (a local model's tokenizer and weight index, the
    // display connection): it happens on its own thread so that the panel never freezes, and
    // the result comes back through the event queue.
    auto prepared = std::make_shared<PreparedBackend>();
    loader_ = std::thread([this, s, factory = factory_, prepared] {
        try {
            prepared->backend = factory(s);
            if (!prepared->backend.model) throw std::runtime_error("no model endpoint is set");
        } catch (const std::exception& e) {
            prepared->backend = {};
            prepared->error = QString::fromUtf8(e.what());
        }
        QMetaObject::invokeMethod(
            this, [this, s, prepared] { backend_ready(s, *prepared); }, Qt::QueuedConnection);
    });
}

void MainWindow::backend_ready(const RunSettings& s, PreparedBackend& prepared) {
    if (loader_.joinable()) loader_.join();
    if (start_cancelled_ || state_ != RunState::starting) {
        prepared.backend = {};
        set_state(RunState::idle);
        statusBar()->showMessage(tr("Stopped before the run started."), 10000);
        log_->appendPlainText(tr("stopped before the run started"));
        return;
    }
    if (!prepared.error.isEmpty()) {
        set_state(RunState::idle);
        show_error(tr("Cannot start: %1").arg(prepared.error));
        return;
    }
    backend_ = std::move(prepared.backend);
    agent::AgentConfig config;
    config.task = s.task.toStdString();
    config.family = s.family.toStdString();
    config.max_steps = s.max_steps;
    config.history = s.history;
    if (s.backend == kBackendLocal) config.max_pixels = s.max_pixels;
    config.policy.mode = agent::approval_mode_from_string(s.approval.toStdString())
                             .value_or(agent::ApprovalMode::each);
    config.session_dir = new_session_dir(sessions_root_, config.task);
    config.manifest.model = backend_.model_name;
    config.manifest.endpoint_host = backend_.endpoint_host;
    if (config_hook_) config_hook_(config);
    control_ = std::make_unique<agent::RunControl>();
    try {
        agent_ = std::make_unique<agent::Agent>(config, *backend_.screen, *backend_.model,
                                                *backend_.actuator, *control_, *bridge_);
    } catch (const std::exception& e) {
        control_.reset();
        backend_ = {};
        set_state(RunState::idle);
        show_error(tr("Cannot start: %1").arg(QString::fromUtf8(e.what())));
        return;
    }
    statusBar()->clearMessage();
    start_hotkey(s.display);
    timeline_model_->clear();
    live_image_ = {};
    live_action_.reset();
    streamed_.clear();
    set_following(true);
    current_step_ = 0;
    max_steps_ = s.max_steps;
    set_state(RunState::running);
    worker_ = std::thread([agent = agent_.get()] { agent->run(); });
}

void MainWindow::start_hotkey(const QString& display) {
    set_hotkey_warning({});
    if (hotkey_spec_.isEmpty()) return;
    try {
        agent::RunControl* control = control_.get();
        hotkey_ = std::make_unique<GlobalHotkey>(display.toStdString(), hotkey_spec_.toStdString(),
                                                 [control] { control->stop(); });
    } catch (const std::exception& e) {
        // Shown, not only logged: the person must know the key will not stop this run.
        set_hotkey_warning(QString::fromUtf8(e.what()));
    }
}

void MainWindow::pause() {
    if (!control_ || state_ != RunState::running) return;
    control_->pause();
    set_state(RunState::paused);
}

void MainWindow::resume() {
    if (!control_ || state_ != RunState::paused) return;
    set_state(RunState::running);
    control_->resume();
}

void MainWindow::step() {
    if (!control_ || state_ != RunState::paused) return;
    set_state(RunState::running);
    control_->step();
}

void MainWindow::stop() {
    if (state_ == RunState::starting) {
        // The backend is still being built: it is dropped when it arrives.
        start_cancelled_ = true;
        set_state(RunState::stopping);
        return;
    }
    if (!control_ || state_ == RunState::idle || state_ == RunState::stopping) return;
    set_state(RunState::stopping);
    approval_->clear();
    view_->set_editable(false);
    if (call_user_dialog_) call_user_dialog_->close();
    control_->stop();
}

void MainWindow::finish_worker() {
    hotkey_.reset();
    set_hotkey_warning({});
    if (worker_.joinable()) worker_.join();
    agent_.reset();
    backend_ = {};
    control_.reset();
    approval_->clear();
    if (call_user_dialog_) call_user_dialog_->close();
    set_state(RunState::idle);
}

void MainWindow::open_session(const QString& dir) {
    try {
        const auto session = agent::load_session(dir.toStdString());
        timeline_model_->load(session);
        tabs_->setCurrentWidget(timeline_view_);
        if (timeline_model_->rowCount() > 0) timeline_view_->selectRow(0);
        for (const auto& w : session.warnings)
            log_->appendPlainText(tr("warning: ") + QString::fromStdString(w));
    } catch (const std::exception& e) {
        show_error(tr("Cannot open %1: %2").arg(dir, QString::fromUtf8(e.what())));
    }
}

void MainWindow::export_report(const QString& dir, const QString& output) {
    try {
        agent::write_report(agent::load_session(dir.toStdString()), output.toStdString());
        statusBar()->showMessage(tr("Report written to %1").arg(output), 10000);
        log_->appendPlainText(tr("report written to %1").arg(output));
    } catch (const std::exception& e) {
        show_error(tr("Cannot export %1: %2").arg(dir, QString::fromUtf8(e.what())));
    }
}

void MainWindow::replay_session(const QString& dir) {
    if (state_ != RunState::idle) return;
    RunSettings s = form_->settings();
    s.backend = kBackendEndpoint;
    s.endpoint.clear();  // a replay needs no model
    try {
        backend_ = factory_(s);
    } catch (const std::exception& e) {
        backend_ = {};
        show_error(tr("Cannot replay: %1").arg(QString::fromUtf8(e.what())));
        return;
    }
    agent::ReplayOptions options;
    options.source = dir.toStdString();
    options.session_dir = new_session_dir(sessions_root_, "replay");
    options.speed = replay_speed_->value();
    options.verify = agent::verify_mode_from_string(replay_verify_->currentText().toStdString())
                         .value_or(agent::VerifyMode::loose);
    control_ = std::make_unique<agent::RunControl>();
    start_hotkey(s.display);
    timeline_model_->clear();
    live_image_ = {};
    live_action_.reset();
    streamed_.clear();
    set_following(true);
    max_steps_ = 0;
    set_state(RunState::running);
    worker_ = std::thread([this, options] {
        // replay() reports its end through the observer (run_finished), like a run.
        agent::replay(options, *backend_.screen, *backend_.actuator, *control_, *bridge_);
    });
}

void MainWindow::closeEvent(QCloseEvent* event) {
    stop();
    if (loader_.joinable()) loader_.join();
    if (worker_.joinable()) worker_.join();
    hotkey_.reset();
    form_->save(*settings_);
    save_window_state();
    settings_->sync();
    QMainWindow::closeEvent(event);
}

}  // namespace deskpilot::panel
