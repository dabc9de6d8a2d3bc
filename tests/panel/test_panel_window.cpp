// The panel's window on the offscreen platform, driving a real Agent against the loopback
// scripted model: control enable/disable in every state, approve / edit / reject, call_user,
// settings persistence, the session browser and the report. No X server: the screen is a still
// picture and the hands are a click recorder (see panel_fixture.h).
#include <QComboBox>
#include <QDialog>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QProcess>
#include <QPushButton>
#include <QSettings>
#include <QShortcut>
#include <QSignalSpy>
#include <QSpinBox>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableView>
#include <QtTest>

#include <condition_variable>
#include <fstream>
#include <mutex>

#include "panel/approval_panel.h"
#include "panel/screenshot_view.h"
#include "panel/session_list_model.h"
#include "panel/timeline_model.h"
#include "panel_fixture.h"

using namespace deskpilot;
using namespace deskpilot::testing;
using panel::RunState;

namespace {

struct Harness {
    QTemporaryDir tmp;
    OpenAiServer server;
    std::shared_ptr<ClickLog> clicks = std::make_shared<ClickLog>();
    std::shared_ptr<QSettings> settings;
    std::unique_ptr<panel::MainWindow> window;

    // `changing_screen`: every click changes the picture (ClickCountScreen), so steps differ.
    explicit Harness(const QString& approval, bool changing_screen = false) {
        settings = std::make_shared<QSettings>(tmp.filePath("panel.ini"), QSettings::IniFormat);
        window =
            std::make_unique<panel::MainWindow>(settings, tmp.filePath("sessions").toStdString());
        window->set_hotkey({});  // no X display here
        window->set_backend_factory([this, changing_screen](const panel::RunSettings& s) {
            panel::Backend b;
            if (changing_screen)
                b.screen = std::make_unique<ClickCountScreen>(clicks);
            else
                b.screen = std::make_unique<StillScreen>();
            b.actuator = std::make_unique<RecordingActuator>(clicks);
            if (!s.endpoint.isEmpty())
                b.model = std::make_unique<model::RemoteVlm>(model::RemoteConfig{
                    .endpoint = s.endpoint.toStdString(), .model = s.model.toStdString()});
            b.model_name = s.model.toStdString();
            return b;
        });
        window->set_config_hook(quick_settle);
        panel::RunSettings s;
        s.task = "Press the buttons";
        s.endpoint = QString::fromStdString(server.base_url());
        s.model = "ui-tars-1.5-7b";
        s.family = "ui-tars-1.5";
        s.approval = approval;
        s.max_steps = 30;
        s.history = 3;
        window->form()->set_settings(s);
        window->resize(1200, 800);
        window->show();
    }

    // Which controls are enabled, as "R P Ru St S A F" letters, like test_panel_models.
    QString enabled() const {
        QString t;
        const char* names[] = {"Run", "Pause", "Resume", "Step", "Stop"};
        const char letters[] = {'R', 'P', 'R', 'S', 'S'};
        for (int i = 0; i < 5; ++i)
            t += window->button(names[i])->isEnabled() ? QChar(letters[i]) : QChar('.');
        t += window->approval()->isEnabled() ? 'A' : '.';
        t += window->form()->isEnabled() ? 'F' : '.';
        return t;
    }
};

}  // namespace

class PanelWindowTest : public QObject {
    Q_OBJECT
  private slots:
    void pauseStepResumeStopControls() {
        Harness h("auto");
        // Every step clicks a new place (no loop detection), after a short think.
        h.server.set_handler([](const RecordedRequest& r) {
            const int turn = assistant_turns(r);
            auto reply = ScriptedReply::answer(
                click_answer(r, {100 + 20 * turn, 100}, "step " + std::to_string(turn)));
            reply.delay = std::chrono::milliseconds(150);
            return reply;
        });
        QCOMPARE(h.enabled(), QString("R.....F"));
        QSignalSpy states(h.window.get(), &panel::MainWindow::stateChanged);
        QTest::mouseClick(h.window->button("Run"), Qt::LeftButton);
        QTRY_COMPARE(h.window->state(), RunState::running);
        QCOMPARE(h.enabled(), QString(".P..S.."));
        QTRY_VERIFY(h.window->timeline()->rowCount() >= 1);

        QTest::mouseClick(h.window->button("Pause"), Qt::LeftButton);
        QCOMPARE(h.window->state(), RunState::paused);
        QCOMPARE(h.enabled(), QString("..RSS.."));
        // The step in flight ends; then nothing more is asked of the model.
        QTRY_COMPARE_WITH_TIMEOUT(h.window->timeline()->rowCount(),
                                  int(h.server.chat_requests().size()), 10000);
        const int before = h.window->timeline()->rowCount();

        QTest::mouseClick(h.window->button("Step"), Qt::LeftButton);
        QTRY_COMPARE(h.window->timeline()->rowCount(), before + 1);
        QTRY_COMPARE(h.window->state(), RunState::paused);  // exactly one step, then paused again
        QCOMPARE(h.enabled(), QString("..RSS.."));
        QCOMPARE(int(h.server.chat_requests().size()), before + 1);

        QTest::mouseClick(h.window->button("Resume"), Qt::LeftButton);
        QCOMPARE(h.window->state(), RunState::running);
        QTRY_VERIFY(h.window->timeline()->rowCount() >= before + 3);

        QSignalSpy ended(h.window.get(), &panel::MainWindow::runEnded);
        QTest::keyClick(h.window.get(), Qt::Key_Escape);  // Esc in the panel stops
        QVERIFY(states.contains({QVariant::fromValue(RunState::stopping)}) ||
                h.window->state() == RunState::stopping || h.window->state() == RunState::idle);
        QTRY_COMPARE(ended.count(), 1);
        QCOMPARE(ended.first().at(0).toString(), QString("stopped"));
        QCOMPARE(h.window->state(), RunState::idle);
        QCOMPARE(h.enabled(), QString("R.....F"));
        const int clicks = int(h.clicks->all().size());
        QCOMPARE(clicks, h.window->timeline()->rowCount() -
                             (h.window->timeline()->rowCount() > clicks ? 1 : 0));
    }

    void stoppingDisablesEveryControl() {
        Harness h("auto");
        h.server.set_handler([](const RecordedRequest& r) {
            auto reply = ScriptedReply::answer(click_answer(r, {100, 100}, "slow"));
            reply.delay = std::chrono::milliseconds(3000);
            return reply;
        });
        QSignalSpy states(h.window.get(), &panel::MainWindow::stateChanged);
        h.window->start_run();
        QTRY_VERIFY_WITH_TIMEOUT(!h.server.chat_requests().empty(), 10000);
        QString during_stop;
        connect(h.window.get(), &panel::MainWindow::stateChanged, this, [&](RunState s) {
            if (s == RunState::stopping) during_stop = h.enabled();
        });
        h.window->stop();
        QCOMPARE(during_stop, QString("......."));
        QTRY_COMPARE(h.window->state(), RunState::idle);
        QVERIFY(h.clicks->all().empty());  // the slow answer was cancelled, nothing ran
    }

    void approveEditRejectAndCallUser() {
        Harness h("each");
        h.server.set_handler([](const RecordedRequest& r) {
            switch (assistant_turns(r)) {
                case 0: {
                    // Streamed in two pieces with a pause between: the panel shows the first alone.
                    const std::string text = click_answer(r, {200, 150}, "first");
                    return ScriptedReply::drip({"Thought: fir", text.substr(12)},
                                               std::chrono::milliseconds(700));
                }
                case 1:
                    return ScriptedReply::answer(click_answer(r, {300, 150}, "second"));
                case 2:
                    return ScriptedReply::answer(click_answer(r, {1000, 700}, "wrong place"));
                case 3:
                    return ScriptedReply::answer("Thought: Ask.\nAction: call_user()");
                default:
                    return ScriptedReply::answer("Thought: Done.\nAction: finished(content='ok')");
            }
        });
        h.window->start_run();

        // The thought streams in as it arrives.
        auto* thought = h.window->findChild<QPlainTextEdit*>("Thought");
        QTRY_COMPARE(thought->toPlainText(), QString("Thought: fir"));
        QCOMPARE(h.window->state(), RunState::running);

        // 1: approve as is.
        QTRY_COMPARE(h.window->state(), RunState::awaiting_approval);
        QVERIFY(thought->toPlainText().startsWith("Thought: first\nAction: click("));
        QCOMPARE(h.enabled(), QString("....SA."));
        QCOMPARE(h.window->view()->action()->point, (vision::Point{200, 150}));
        QTest::mouseClick(h.window->approval()->approve_button(), Qt::LeftButton);
        QTRY_COMPARE(h.clicks->all().size(), std::size_t(1));
        QCOMPARE(h.clicks->all()[0], (vision::Point{200, 150}));

        // 2: edit: drag the marker from (300,150) to (640,350) on the screenshot, then approve.
        QTRY_COMPARE(h.window->state(), RunState::awaiting_approval);
        auto* view = h.window->view();
        QTest::mouseClick(h.window->approval()->edit_button(), Qt::LeftButton);
        QVERIFY(view->editable());
        const QPoint from = view->to_widget({300, 150}).toPoint();
        const QPoint to = view->to_widget({640, 350}).toPoint();
        QTest::mousePress(view, Qt::LeftButton, {}, from);
        QMouseEvent move(QEvent::MouseMove, QPointF(to), view->mapToGlobal(QPointF(to)),
                         Qt::NoButton, Qt::LeftButton, {});
        QApplication::sendEvent(view, &move);
        QTest::mouseRelease(view, Qt::LeftButton, {}, to);
        const vision::Point edited = *h.window->approval()->current()->point;
        // One widget pixel covers 1280/view-width screen pixels: the edit lands within that.
        const double tolerance = 1280.0 / view->width() + 1;
        QVERIFY2(std::abs(edited.x - 640) <= tolerance && std::abs(edited.y - 350) <= tolerance,
                 qPrintable(QString("edited to %1,%2").arg(edited.x).arg(edited.y)));
        QSignalSpy decided(h.window->approval(), &panel::ApprovalPanel::decided);
        QTest::mouseClick(h.window->approval()->approve_button(), Qt::LeftButton);
        QCOMPARE(decided.count(), 1);
        const auto decision = decided.first().at(0).value<agent::ApprovalDecision>();
        QCOMPARE(decision.kind, agent::ApprovalDecision::Kind::edit);
        QCOMPARE(*decision.edited.point, edited);
        QTRY_COMPARE(h.clicks->all().size(), std::size_t(2));
        QCOMPARE(h.clicks->all()[1], edited);

        // 3: reject with feedback; the feedback is the model's next user turn.
        QTRY_COMPARE(h.window->state(), RunState::awaiting_approval);
        h.window->approval()->feedback_edit()->setText("Not there: use the OK button.");
        QTest::mouseClick(h.window->approval()->reject_button(), Qt::LeftButton);
        QTRY_VERIFY(server_saw_user_text(h.server, "Not there: use the OK button."));
        QCOMPARE(h.clicks->all().size(), std::size_t(2));  // the rejected click never ran

        // 4: call_user: a dialog with the question; the reply resumes the run.
        QTRY_COMPARE(h.window->state(), RunState::awaiting_reply);
        QCOMPARE(h.enabled(), QString("....S.."));
        QDialog* dialog = nullptr;
        QTRY_VERIFY((dialog = h.window->findChild<QDialog*>("CallUserDialog")) &&
                    dialog->isVisible());
        dialog->findChild<QLineEdit*>("Reply")->setText("The blue one.");
        QSignalSpy ended(h.window.get(), &panel::MainWindow::runEnded);
        dialog->accept();
        QTRY_COMPARE(ended.count(), 1);
        QCOMPARE(ended.first().at(0).toString(), QString("finished"));
        QVERIFY(server_saw_user_text(h.server, "The blue one."));
        QCOMPARE(h.window->findChild<QLabel*>("StatusStep")->text(), QString("step 5/30"));
        QVERIFY(h.window->findChild<QLabel*>("StatusModel")->text().startsWith("model "));
        QVERIFY(h.window->findChild<QLabel*>("StatusCapture")->text().startsWith("capture "));
        QCOMPARE(h.window->findChild<QLabel*>("StatusState")->text(), QString("Idle"));

        // The timeline holds the five steps with their approval decisions.
        auto* t = h.window->timeline();
        QCOMPARE(t->rowCount(), 5);
        QCOMPARE(
            t->data(t->index(0, panel::TimelineModel::ApprovalColumn), Qt::DisplayRole).toString(),
            QString("approved"));
        QCOMPARE(
            t->data(t->index(1, panel::TimelineModel::ApprovalColumn), Qt::DisplayRole).toString(),
            QString("edited"));
        QCOMPARE(
            t->data(t->index(2, panel::TimelineModel::ApprovalColumn), Qt::DisplayRole).toString(),
            QString("rejected"));

        // Sessions: the run is listed, opens in the timeline, and exports its report.
        auto* sessions = h.window->sessions();
        QCOMPARE(sessions->rowCount(), 1);
        QCOMPARE(
            sessions
                ->data(sessions->index(0, panel::SessionListModel::StatusColumn), Qt::DisplayRole)
                .toString(),
            QString("finished"));
        const QString dir =
            sessions->data(sessions->index(0, 0), panel::SessionListModel::PathRole).toString();
        h.window->open_session(dir);
        QCOMPARE(t->rowCount(), 5);
        QVERIFY(!t->screenshot(0).isNull());
        // Selecting a row shows that step's screenshot, action and answer.
        h.window->findChild<QTableView*>("Timeline")->selectRow(1);
        QCOMPARE(h.window->view()->image(), t->screenshot(1));
        QCOMPARE(h.window->view()->action()->point, std::optional(edited));
        QVERIFY(h.window->findChild<QPlainTextEdit*>("Thought")->toPlainText().contains("second"));
        const QString report = h.tmp.filePath("report.html");
        h.window->export_report(dir, report);
        QFile file(report);
        QVERIFY(file.open(QIODevice::ReadOnly));
        QVERIFY(file.readAll().contains("Press the buttons"));
        h.window->export_report(dir, "/nonexistent-dir/report.html");
        QVERIFY2(h.window->last_error().contains("/nonexistent-dir/report.html"),
                 qPrintable(h.window->last_error()));
    }

    void editingTextOfATypeAction() {
        panel::ApprovalPanel p;
        agent::ApprovalRequest r;
        r.step = 4;
        r.action.type = planner::ActionType::type;
        r.action.text = "helo\n";
        p.show_request(r);
        QCOMPARE(p.text_edit()->text(), QString("helo\\n"));
        QVERIFY(p.text_edit()->isReadOnly());
        p.edit_button()->click();
        QVERIFY(!p.text_edit()->isReadOnly());
        p.text_edit()->clear();
        QTest::keyClicks(p.text_edit(), "hello\\n");
        QSignalSpy decided(&p, &panel::ApprovalPanel::decided);
        p.approve_button()->click();
        const auto d = decided.first().at(0).value<agent::ApprovalDecision>();
        QCOMPARE(d.kind, agent::ApprovalDecision::Kind::edit);
        QCOMPARE(d.edited.text, std::string("hello\n"));

        agent::ApprovalRequest k;
        k.action.type = planner::ActionType::hotkey;
        k.action.keys = {"ctrl", "s"};
        p.show_request(k);
        QCOMPARE(p.text_edit()->text(), QString("ctrl+s"));
        p.edit_button()->click();
        p.text_edit()->clear();
        QTest::keyClicks(p.text_edit(), "Ctrl+Shift+S");
        p.approve_button()->click();
        QCOMPARE(decided.last().at(0).value<agent::ApprovalDecision>().edited.keys,
                 (std::vector<std::string>{"ctrl", "shift", "s"}));
    }

    void settingsAreRemembered() {
        QTemporaryDir tmp;
        const QString path = tmp.filePath("panel.ini");
        {
            auto settings = std::make_shared<QSettings>(path, QSettings::IniFormat);
            panel::MainWindow w(settings, tmp.filePath("sessions").toStdString());
            panel::RunSettings s{"Open the editor",
                                 "http://127.0.0.1:9/v1",
                                 "m7",
                                 "MY_KEY",
                                 "ui-tars-1.5",
                                 "risky",
                                 ":77",
                                 12,
                                 4};
            w.form()->set_settings(s);
            w.close();
        }
        auto settings = std::make_shared<QSettings>(path, QSettings::IniFormat);
        panel::MainWindow w(settings, tmp.filePath("sessions").toStdString());
        const auto s = w.form()->settings();
        QCOMPARE(s.task, QString("Open the editor"));
        QCOMPARE(s.endpoint, QString("http://127.0.0.1:9/v1"));
        QCOMPARE(s.model, QString("m7"));
        QCOMPARE(s.api_key_env, QString("MY_KEY"));
        QCOMPARE(s.approval, QString("risky"));
        QCOMPARE(s.display, QString(":77"));
        QCOMPARE(s.max_steps, 12);
        QCOMPARE(s.history, 4);
        QVERIFY(settings->contains("window/geometry"));
    }

    void localModelDirectoryIsAFormChoiceAndRemembered() {
        QTemporaryDir tmp;
        const QString path = tmp.filePath("panel.ini");
        {
            auto settings = std::make_shared<QSettings>(path, QSettings::IniFormat);
            panel::MainWindow w(settings, tmp.filePath("sessions").toStdString());
            auto* form = w.form();
            auto* endpoint = form->findChild<QLineEdit*>("Endpoint");
            auto* check = form->findChild<QPushButton*>("Check endpoint");
            auto* browse = form->findChild<QPushButton*>("Browse model directory");
            QCOMPARE(form->settings().backend, panel::kBackendEndpoint);
            QVERIFY(endpoint->isEnabled() && check->isEnabled());
            QVERIFY(!form->model_dir_edit()->isEnabled() && !browse->isEnabled());

            // Choosing the local backend: only its fields are live, and the family follows the
            // engine (Qwen3-VL).
            form->backend_box()->setCurrentIndex(
                form->backend_box()->findData(panel::kBackendLocal));
            QVERIFY(!endpoint->isEnabled() && !check->isEnabled());
            QVERIFY(!form->findChild<QLineEdit*>("Model")->isEnabled());
            QVERIFY(!form->findChild<QLineEdit*>("API key variable")->isEnabled());
            QVERIFY(form->model_dir_edit()->isEnabled() && browse->isEnabled());
            QCOMPARE(form->settings().family, QString("qwen3-vl"));
            form->model_dir_edit()->setText("/models/Qwen3-VL-30B-A3B");
            form->findChild<QSpinBox*>("Max pixels")->setValue(65536 * 4);
            // The endpoint typed before stays remembered for when the person switches back.
            auto s = form->settings();
            QCOMPARE(s.backend, panel::kBackendLocal);
            QCOMPARE(s.model_dir, QString("/models/Qwen3-VL-30B-A3B"));
            w.close();
        }
        {
            auto settings = std::make_shared<QSettings>(path, QSettings::IniFormat);
            QCOMPARE(settings->value("run/backend").toString(), QString("local"));
            panel::MainWindow w(settings, tmp.filePath("sessions").toStdString());
            const auto s = w.form()->settings();
            QCOMPARE(s.backend, panel::kBackendLocal);
            QCOMPARE(s.model_dir, QString("/models/Qwen3-VL-30B-A3B"));
            QCOMPARE(s.max_pixels, 65536 * 4);
            QCOMPARE(s.family, QString("qwen3-vl"));
            QVERIFY(w.form()->model_dir_edit()->isEnabled());
            QVERIFY(!w.form()->findChild<QLineEdit*>("Endpoint")->isEnabled());
            // Back to the endpoint: the form says so and the choice is saved too.
            w.form()->backend_box()->setCurrentIndex(0);
            QVERIFY(!w.form()->model_dir_edit()->isEnabled());
            QVERIFY(!w.form()->findChild<QSpinBox*>("Max pixels")->isEnabled());
            w.close();
        }
        QSettings saved(path, QSettings::IniFormat);
        QCOMPARE(saved.value("run/backend").toString(), QString("endpoint"));
        QCOMPARE(saved.value("run/model_dir").toString(), QString("/models/Qwen3-VL-30B-A3B"));
    }

    // The family follows what the model folder speaks, as `deskpilot run --model-dir` does:
    // a Qwen2.5-VL checkpoint (UI-TARS-1.5) answers in ui-tars-1.5 coordinates.
    void localFamilyFollowsTheModelFolder() {
        QTemporaryDir tmp;
        auto settings =
            std::make_shared<QSettings>(tmp.filePath("panel.ini"), QSettings::IniFormat);
        panel::MainWindow w(settings, tmp.filePath("sessions").toStdString());
        auto* form = w.form();
        form->model_dir_edit()->setText(DESKPILOT_TEST_DATA_DIR "/engine/qwen2_5_vl_tiny");
        form->backend_box()->setCurrentIndex(form->backend_box()->findData(panel::kBackendLocal));
        QCOMPARE(form->settings().family, QString("ui-tars-1.5"));
        form->model_dir_edit()->setText(DESKPILOT_TEST_DATA_DIR "/engine/qwen3_vl_moe_vision_tiny");
        emit form->model_dir_edit()->editingFinished();
        QCOMPARE(form->settings().family, QString("qwen3-vl"));
        // Our own checkpoint names its family in deskpilot.json.
        form->model_dir_edit()->setText(DESKPILOT_SOURCE_DIR "/models/deskpilot-nano");
        emit form->model_dir_edit()->editingFinished();
        QCOMPARE(form->settings().family, QString("deskpilot-nano"));
        // A broken one leaves the choice as it was.
        QFile broken(tmp.filePath("deskpilot.json"));
        QVERIFY(broken.open(QIODevice::WriteOnly));
        broken.write("{\"family\": ");
        broken.close();
        form->model_dir_edit()->setText(tmp.path());
        emit form->model_dir_edit()->editingFinished();
        QCOMPARE(form->settings().family, QString("deskpilot-nano"));
    }

    // A pixel cap below the family's smallest image cannot be honoured: refused before the
    // model loads, with the reason.
    void pixelCapBelowTheFamilyMinimumIsRefused() {
        QTemporaryDir tmp;
        auto settings =
            std::make_shared<QSettings>(tmp.filePath("panel.ini"), QSettings::IniFormat);
        const QString sessions = tmp.filePath("sessions");
        panel::MainWindow w(settings, sessions.toStdString());
        w.set_hotkey({});
        panel::RunSettings s;
        s.task = "Anything";
        s.backend = panel::kBackendLocal;
        s.model_dir = DESKPILOT_TEST_DATA_DIR "/engine/qwen2_5_vl_tiny";
        s.family = "ui-tars-1.5";
        s.max_pixels = 65536;
        s.display = ":4711";  // never reached
        w.form()->set_settings(s);
        w.show();
        QTest::mouseClick(w.button("Run"), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(w.state(), RunState::idle, 20000);
        const QString error = w.last_error();
        QVERIFY2(
            error.startsWith("Cannot start: a pixel cap of 65536 is below family ui-tars-1.5's"),
            qPrintable(error));
        QVERIFY(!QDir(sessions).exists() || QDir(sessions).isEmpty());
    }

    // The default backend with a bad local model directory: one clear error naming the folder
    // and the problem, nothing started (no session folder, no worker), no crash.
    void badModelDirectoryIsOneClearError_data() {
        QTest::addColumn<QString>("case_name");
        QTest::addColumn<QString>("expected");
        QTest::newRow("empty") << "empty"
                               << "no local model directory is set";
        QTest::newRow("missing") << "missing"
                                 << "no such model folder";
        QTest::newRow("no config.json") << "no-config"
                                        << "config.json is missing";
        QTest::newRow("unsupported architecture") << "text-only"
                                                  << "not supported";
    }

    void badModelDirectoryIsOneClearError() {
        QFETCH(QString, case_name);
        QFETCH(QString, expected);
        QTemporaryDir tmp;
        QString dir;
        if (case_name == "missing") dir = tmp.filePath("no-such-model");
        if (case_name == "no-config" || case_name == "text-only") {
            dir = tmp.filePath("model");
            QVERIFY(QDir().mkpath(dir));
            QVERIFY(QFile::copy(DESKPILOT_TEST_DATA_DIR "/engine/qwen3_vl_moe_vision_tiny/"
                                                        "tokenizer.json",
                                dir + "/tokenizer.json"));
        }
        if (case_name == "text-only")
            std::ofstream((dir + "/config.json").toStdString())
                << "{\"model_type\": \"qwen3_moe\", \"vocab_size\": 1024, \"hidden_size\": 64, "
                   "\"num_hidden_layers\": 1, \"num_attention_heads\": 4, "
                   "\"num_key_value_heads\": 2, \"head_dim\": 32, \"num_experts\": 8, "
                   "\"num_experts_per_tok\": 2, \"moe_intermediate_size\": 48, "
                   "\"intermediate_size\": 96}";
        auto settings =
            std::make_shared<QSettings>(tmp.filePath("panel.ini"), QSettings::IniFormat);
        const QString sessions = tmp.filePath("sessions");
        panel::MainWindow w(settings, sessions.toStdString());
        w.set_hotkey({});
        panel::RunSettings s;
        s.task = "Anything";
        s.backend = panel::kBackendLocal;
        s.model_dir = dir;
        s.display = ":4711";  // never reached: the model folder is checked first
        w.form()->set_settings(s);
        w.show();
        QSignalSpy states(&w, &panel::MainWindow::stateChanged);
        QTest::mouseClick(w.button("Run"), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(w.state(), RunState::idle, 20000);
        for (const auto& args : states)  // never running, not even for a moment
            QVERIFY(args.at(0).value<RunState>() != RunState::running);
        const QString error = w.last_error();
        QVERIFY2(error.startsWith("Cannot start: ") && error.contains(expected), qPrintable(error));
        if (!dir.isEmpty()) QVERIFY2(error.contains(dir), qPrintable(error));
        QVERIFY2(!error.contains(":4711"), qPrintable(error));
        QCOMPARE(w.statusBar()->currentMessage(), error);  // shown, not only logged
        QVERIFY(!QDir(sessions).exists() || QDir(sessions).isEmpty());
        QVERIFY(w.button("Run")->isEnabled());
    }

    // Selecting an earlier step during a run holds the view on it (screenshot, action, answer)
    // while new steps arrive; selecting the newest row, or the Follow latest button, goes back
    // to the live view.
    void earlierStepStaysShownWhileTheRunGoesOn() {
        Harness h("auto", /*changing_screen=*/true);
        h.server.set_handler([](const RecordedRequest& r) {
            const int turn = assistant_turns(r);
            auto reply = ScriptedReply::answer(
                click_answer(r, {100 + 20 * turn, 100}, "step " + std::to_string(turn)));
            reply.delay = std::chrono::milliseconds(120);
            return reply;
        });
        auto* view = h.window->view();
        auto* table = h.window->timeline_view();
        auto* t = h.window->timeline();
        auto* thought = h.window->thought_view();
        auto settings = h.window->form()->settings();
        settings.max_steps = 1000;  // the run must outlast the test
        h.window->form()->set_settings(settings);
        h.window->start_run();
        QVERIFY(h.window->following());
        QTRY_VERIFY_WITH_TIMEOUT(t->rowCount() >= 3, 20000);
        // Following: the newest row is selected and the view moves on with the run.
        QTRY_COMPARE(table->currentIndex().row(), t->rowCount() - 1);

        table->selectRow(1);  // as a click on the second row does
        QVERIFY(!h.window->following());
        QVERIFY(!h.window->follow_button()->isChecked());
        const QImage second = t->screenshot(1);
        QVERIFY(second != t->screenshot(0));  // the steps really look different
        QCOMPARE(view->image(), second);
        QCOMPARE(view->action()->point, (std::optional(vision::Point{120, 100})));
        QVERIFY2(thought->toPlainText().contains("Thought: step 1"),
                 qPrintable(thought->toPlainText()));

        // Three more steps later the view still shows step 2, and the selection stays on it.
        const int rows = t->rowCount();
        QTRY_VERIFY_WITH_TIMEOUT(t->rowCount() >= rows + 3, 20000);
        QCOMPARE(h.window->state(), RunState::running);
        QCOMPARE(view->image(), second);
        QCOMPARE(view->action()->point, (std::optional(vision::Point{120, 100})));
        QVERIFY(thought->toPlainText().contains("Thought: step 1"));
        QCOMPARE(table->currentIndex().row(), 1);
        // The timeline keeps recording each new step with its own screenshot meanwhile.
        QVERIFY(t->screenshot(rows) != second);

        // The newest row: back to live; the view follows new steps again.
        table->selectRow(t->rowCount() - 1);
        QVERIFY(h.window->following());
        QVERIFY(h.window->follow_button()->isChecked());
        QVERIFY(view->image() != second);  // the live screenshot again
        const QImage at_follow = view->image();
        const int now = t->rowCount();
        QTRY_VERIFY_WITH_TIMEOUT(t->rowCount() >= now + 2, 20000);
        QTRY_VERIFY(view->image() != at_follow);  // the view moved on with the run
        QTRY_COMPARE(table->currentIndex().row(), t->rowCount() - 1);

        // Again away, then the Follow latest button (Ctrl+L) brings the live view back.
        QCOMPARE(h.window->state(), RunState::running);
        table->selectRow(0);
        QVERIFY(!h.window->following());
        QCOMPARE(view->image(), t->screenshot(0));
        QTest::keyClick(h.window.get(), Qt::Key_L, Qt::ControlModifier);
        QTRY_VERIFY(h.window->following());  // a shortcut "animates" the click: not at once
        QVERIFY(view->image() != t->screenshot(0));
        const QImage at_button = view->image();
        const int later = t->rowCount();
        QTRY_VERIFY_WITH_TIMEOUT(t->rowCount() >= later + 2, 20000);
        QTRY_VERIFY(view->image() != at_button);
        QTRY_COMPARE(table->currentIndex().row(), t->rowCount() - 1);
        h.window->stop();
        QTRY_COMPARE(h.window->state(), RunState::idle);
    }

    // A pending approval brings the view back to the live step: the person decides on what
    // the agent sees now, never on an old screenshot.
    void approvalReturnsToTheLiveView() {
        Harness h("each", /*changing_screen=*/true);
        h.server.set_handler([](const RecordedRequest& r) {
            const int turn = assistant_turns(r);
            return ScriptedReply::answer(
                click_answer(r, {100 + 20 * turn, 100}, "step " + std::to_string(turn)));
        });
        h.window->start_run();
        for (int i = 0; i < 2; ++i) {
            QTRY_COMPARE(h.window->state(), RunState::awaiting_approval);
            h.window->approval()->approve_button()->click();
        }
        QTRY_COMPARE(h.window->state(), RunState::awaiting_approval);
        QTRY_COMPARE(h.window->timeline()->rowCount(), 2);
        const QImage live = h.window->view()->image();
        h.window->timeline_view()->selectRow(0);
        QVERIFY(!h.window->following());
        QVERIFY(h.window->view()->image() != live);
        // Edit goes back to the live screenshot and its pending action before anything moves.
        QTest::mouseClick(h.window->approval()->edit_button(), Qt::LeftButton);
        QVERIFY(h.window->following());
        QCOMPARE(h.window->view()->image(), live);
        QCOMPARE(h.window->view()->action()->point, (std::optional(vision::Point{140, 100})));
        QVERIFY(h.window->view()->editable());
        h.window->stop();
        QTRY_COMPARE(h.window->state(), RunState::idle);
    }

    // Pan: the middle button (or the left one when zoomed and not editing) and the arrow keys
    // move the zoomed picture; the widget ↔ screen mapping stays exact, the marker is drawn on
    // the very device pixel of its screen point (at any device pixel ratio), and the picture
    // never leaves the view.
    void panMovesTheViewAndMarkersStayOnTheirPixel() {
        panel::ScreenshotView view;
        view.resize(640, 400);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        QImage image(1280, 800, QImage::Format_RGB32);
        image.fill(Qt::gray);
        view.set_image(image, QPoint(100, 50));
        planner::Action click;
        click.type = planner::ActionType::click;
        click.point = vision::Point{740, 450};  // the middle of the picture
        view.set_action(click);
        view.set_zoom(2.0);
        const QPointF before = view.to_widget(*click.point);
        QCOMPARE(view.pan(), QPointF(0, 0));

        auto drag = [&](Qt::MouseButton button, QPoint from, QPoint to) {
            QTest::mousePress(&view, button, {}, from);
            QMouseEvent move(QEvent::MouseMove, QPointF(to), view.mapToGlobal(QPointF(to)),
                             Qt::NoButton, button, {});
            QApplication::sendEvent(&view, &move);
            QTest::mouseRelease(&view, button, {}, to);
        };
        drag(Qt::MiddleButton, {300, 200}, {200, 150});
        QCOMPARE(view.pan(), QPointF(-100, -50));
        QCOMPARE(view.to_widget(*click.point), before + QPointF(-100, -50));
        for (vision::Point p : {vision::Point{100, 50}, vision::Point{740, 450},
                                vision::Point{1379, 849}, vision::Point{333, 222}})
            QCOMPARE(view.to_screen(view.to_widget(p)), p);
        // The action did not move: panning is not editing.
        QCOMPARE(view.action()->point, click.point);

        // The marker's cross is drawn where the mapping says, in device pixels.
        auto marker_is_at = [&](QPointF w) {
            const QImage shot = view.grab().toImage();
            const double dpr = shot.devicePixelRatio();
            const QColor c = shot.pixelColor((w * dpr).toPoint());
            return c.red() > 200 && c.green() < 80 && c.blue() < 80;
        };
        QVERIFY(marker_is_at(view.to_widget(*click.point)));
        QVERIFY(!marker_is_at(before));  // not where it was before the pan

        // Left drag pans too when zoomed (and not editing).
        drag(Qt::LeftButton, {200, 150}, {260, 150});
        QCOMPARE(view.pan(), QPointF(-40, -50));
        QVERIFY(marker_is_at(view.to_widget(*click.point)));

        // Arrow keys: Right shows more of the right side (the picture moves left by 1/8).
        QTest::keyClick(&view, Qt::Key_Right);
        QCOMPARE(view.pan(), QPointF(-120, -50));
        QTest::keyClick(&view, Qt::Key_Up);
        QCOMPARE(view.pan(), QPointF(-120, 0));

        // The picture never leaves the view: at zoom 2 it is 1280x800 in a 640x400 view, so it
        // moves at most 320 / 200 px either way.
        drag(Qt::MiddleButton, {100, 100}, {630, 390});
        QCOMPARE(view.pan(), QPointF(320, 200));
        QCOMPARE(view.to_widget({100, 50}), QPointF(0.5, 0.5));  // its top-left at the corner
        drag(Qt::MiddleButton, {630, 390}, {0, 0});
        drag(Qt::MiddleButton, {630, 390}, {0, 0});
        QCOMPARE(view.pan(), QPointF(-320, -200));
        QCOMPARE(view.to_widget({1379, 849}), QPointF(639.5, 399.5));  // bottom-right corner
        QVERIFY(marker_is_at(view.to_widget(*click.point)));
        // Zooming back out re-centres the picture.
        view.set_zoom(1.0);
        QCOMPARE(view.pan(), QPointF(0, 0));
        QCOMPARE(view.to_widget({100, 50}).toPoint(), QPoint(0, 0));
    }

    // Geometry, both splitters, the timeline's columns and the open tab come back on the next
    // launch.
    void windowStateIsRestored() {
        QTemporaryDir tmp;
        const QString path = tmp.filePath("panel.ini");
        QList<int> main_sizes, view_sizes;
        {
            auto settings = std::make_shared<QSettings>(path, QSettings::IniFormat);
            panel::MainWindow w(settings, tmp.filePath("sessions").toStdString());
            w.resize(1400, 900);
            w.show();
            QVERIFY(QTest::qWaitForWindowExposed(&w));
            const int main_total =
                w.main_splitter()->sizes().value(0) + w.main_splitter()->sizes().value(1);
            const int view_total =
                w.view_splitter()->sizes().value(0) + w.view_splitter()->sizes().value(1);
            w.main_splitter()->setSizes({main_total - 700, 700});
            w.view_splitter()->setSizes({view_total - 200, 200});
            main_sizes = w.main_splitter()->sizes();
            view_sizes = w.view_splitter()->sizes();
            w.timeline_view()->horizontalHeader()->resizeSection(
                panel::TimelineModel::ThoughtColumn, 333);
            w.findChild<QTabWidget*>()->setCurrentIndex(2);
            w.close();
        }
        auto settings = std::make_shared<QSettings>(path, QSettings::IniFormat);
        panel::MainWindow w(settings, tmp.filePath("sessions").toStdString());
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QCOMPARE(w.size(), QSize(1400, 900));
        QTRY_COMPARE(w.main_splitter()->sizes(), main_sizes);
        QCOMPARE(w.view_splitter()->sizes(), view_sizes);
        QCOMPARE(
            w.timeline_view()->horizontalHeader()->sectionSize(panel::TimelineModel::ThoughtColumn),
            333);
        QCOMPARE(w.findChild<QTabWidget*>()->currentIndex(), 2);
    }

    // Risky mode: a plain click runs without asking; a hotkey waits for Approve / Edit / Reject
    // with the reason shown, and runs only once approved.
    void riskyModeAsksOnlyForRiskyActions() {
        Harness h("risky");
        h.server.set_handler([](const RecordedRequest& r) {
            switch (assistant_turns(r)) {
                case 0:
                    return ScriptedReply::answer(click_answer(r, {200, 150}, "harmless"));
                case 1:
                    return ScriptedReply::answer("Thought: Save it.\nAction: hotkey(key='ctrl s')");
                default:
                    return ScriptedReply::answer("Thought: Done.\nAction: finished(content='ok')");
            }
        });
        QSignalSpy ended(h.window.get(), &panel::MainWindow::runEnded);
        h.window->start_run();
        QTRY_COMPARE(h.window->state(), RunState::awaiting_approval);
        QCOMPARE(h.clicks->all().size(), std::size_t(1));  // the click did not ask
        QCOMPARE(h.clicks->hotkey_count(), std::size_t(0));
        QCOMPARE(h.enabled(), QString("....SA."));
        QVERIFY(h.window->approval()->current()->keys == (std::vector<std::string>{"ctrl", "s"}));
        const QLabel* reason = nullptr;
        for (auto* l : h.window->approval()->findChildren<QLabel*>())
            if (l->accessibleName() == "Why approval is needed") reason = l;
        QVERIFY(reason && !reason->text().isEmpty());
        QTest::mouseClick(h.window->approval()->approve_button(), Qt::LeftButton);
        QTRY_COMPARE(ended.count(), 1);
        QCOMPARE(ended.first().at(0).toString(), QString("finished"));
        QCOMPARE(h.clicks->hotkey_count(), std::size_t(1));
        auto* t = h.window->timeline();
        QCOMPARE(
            t->data(t->index(0, panel::TimelineModel::ApprovalColumn), Qt::DisplayRole).toString(),
            QString("auto"));
        QCOMPARE(
            t->data(t->index(1, panel::TimelineModel::ApprovalColumn), Qt::DisplayRole).toString(),
            QString("approved"));
    }

    // What the live view draws for each kind of action, checked on the rendered pixels (at the
    // device pixel ratio the test runs with): a drag's arrow, a scroll's direction, typed text;
    // and a drag's end can be moved in edit mode.
    void actionsAreDrawnAndADragEndCanBeMoved() {
        panel::ScreenshotView view;
        view.resize(640, 400);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        QImage image(1280, 800, QImage::Format_RGB32);
        image.fill(Qt::gray);
        view.set_image(image);
        auto pixel = [&](QPointF w) {
            const QImage shot = view.grab().toImage();
            return shot.pixelColor((w * shot.devicePixelRatio()).toPoint());
        };
        auto is_red = [](QColor c) { return c.red() > 200 && c.green() < 80 && c.blue() < 80; };

        planner::Action drag;
        drag.type = planner::ActionType::drag;
        drag.point = vision::Point{200, 200};
        drag.end = vision::Point{800, 200};
        view.set_action(drag);
        const QPointF a = view.to_widget(*drag.point), b = view.to_widget(*drag.end);
        QVERIFY(is_red(pixel((a + b) / 2)));                    // the arrow's shaft
        QVERIFY(is_red(pixel(b - QPointF(4, 0))));              // its head
        QVERIFY(!is_red(pixel((a + b) / 2 + QPointF(0, 20))));  // and nothing beside it

        // Edit: the end handle follows the mouse; the start stays.
        view.set_editable(true);
        QSignalSpy edited(&view, &panel::ScreenshotView::actionEdited);
        const QPoint to = view.to_widget({800, 600}).toPoint();
        QTest::mousePress(&view, Qt::LeftButton, {}, b.toPoint());
        QMouseEvent move(QEvent::MouseMove, QPointF(to), view.mapToGlobal(QPointF(to)),
                         Qt::NoButton, Qt::LeftButton, {});
        QApplication::sendEvent(&view, &move);
        QTest::mouseRelease(&view, Qt::LeftButton, {}, to);
        QVERIFY(edited.count() >= 1);
        QCOMPARE(view.action()->point, drag.point);
        const vision::Point end = *view.action()->end;
        QVERIFY2(std::abs(end.x - 800) <= 2 && std::abs(end.y - 600) <= 2,
                 qPrintable(QString("%1,%2").arg(end.x).arg(end.y)));
        view.set_editable(false);

        planner::Action scroll;
        scroll.type = planner::ActionType::scroll;
        scroll.point = vision::Point{640, 400};
        scroll.direction = "down";
        view.set_action(scroll);
        const QPointF c = view.to_widget(*scroll.point);
        QVERIFY(is_red(pixel(c + QPointF(0, 30))));    // the arrow points down
        QVERIFY(!is_red(pixel(c + QPointF(0, -30))));  // not up
        scroll.direction = "up";
        view.set_action(scroll);
        QVERIFY(is_red(pixel(c + QPointF(0, -30))));

        // Typed text without a point: a dark label in the top-left corner names it.
        planner::Action type;
        type.type = planner::ActionType::type;
        type.text = "hello\n";
        view.set_action(type);
        const QColor label = pixel({14, 26});
        QVERIFY2(label.lightness() < 100 || label == Qt::white, qPrintable(label.name()));
        view.set_action(std::nullopt);
        QCOMPARE(pixel({14, 26}), QColor(Qt::gray));
    }

    // Building the backend (a local model can take seconds) happens off the GUI thread: the
    // panel keeps answering, only Stop is offered, and Stop drops the run before it starts.
    void startingDoesNotBlockAndCanBeStopped() {
        Harness h("auto");
        std::mutex mutex;
        std::condition_variable cv;
        bool release = false, building = false;
        h.window->set_backend_factory([&](const panel::RunSettings& s) {
            {
                std::unique_lock lock(mutex);
                building = true;
                cv.notify_all();
                cv.wait(lock, [&] { return release; });  // a slow model load
            }
            panel::Backend b;
            b.screen = std::make_unique<StillScreen>();
            b.actuator = std::make_unique<RecordingActuator>(h.clicks);
            b.model = std::make_unique<model::RemoteVlm>(model::RemoteConfig{
                .endpoint = s.endpoint.toStdString(), .model = s.model.toStdString()});
            return b;
        });
        auto unblock = [&] {
            std::lock_guard lock(mutex);
            release = true;
            cv.notify_all();
        };
        h.window->start_run();
        QCOMPARE(h.window->state(), RunState::starting);
        QCOMPARE(h.enabled(), QString("....S.."));
        // The GUI thread is free while the factory is stuck: events are processed, a timer fires.
        QTRY_VERIFY([&] {
            std::lock_guard lock(mutex);
            return building;
        }());
        bool timer_fired = false;
        QTimer::singleShot(10, [&] { timer_fired = true; });
        QTRY_VERIFY(timer_fired);
        QCOMPARE(h.window->state(), RunState::starting);

        QSignalSpy ended(h.window.get(), &panel::MainWindow::runEnded);
        QTest::keyClick(h.window.get(), Qt::Key_Escape);
        QCOMPARE(h.window->state(), RunState::stopping);
        unblock();
        QTRY_COMPARE(h.window->state(), RunState::idle);
        QCOMPARE(h.server.chat_requests().size(), std::size_t(0));  // nothing ran
        QVERIFY(h.window->session_dir().isEmpty());
        QCOMPARE(h.window->timeline()->rowCount(), 0);
        QVERIFY(h.window->button("Run")->isEnabled());

        // Not stopped: the run starts once the backend is there.
        release = false;
        h.server.set_handler([](const RecordedRequest&) {
            return ScriptedReply::answer("Thought: Done.\nAction: finished(content='ok')");
        });
        h.window->start_run();
        QCOMPARE(h.window->state(), RunState::starting);
        unblock();
        QTRY_COMPARE(ended.count(), 1);
        QCOMPARE(ended.first().at(0).toString(), QString("finished"));
    }

    void checkEndpointListsModelsOrSaysWhy() {
        OpenAiServer server;
        server.set_models({"ui-tars-1.5-7b", "qwen3-vl"}, false);
        panel::StartForm form;
        panel::RunSettings s;
        s.endpoint = QString::fromStdString(server.base_url());
        form.set_settings(s);
        QSignalSpy checked(&form, &panel::StartForm::checked);
        form.check_endpoint();
        QVERIFY(checked.wait(10000));
        QCOMPARE(checked.first().at(0).toString(),
                 QString("The server offers: ui-tars-1.5-7b, qwen3-vl"));
        s.endpoint = "not a url";
        form.set_settings(s);
        form.check_endpoint();
        QVERIFY(checked.wait(10000));
        QVERIFY2(checked.last().at(0).toString().startsWith("Endpoint check failed: "),
                 qPrintable(checked.last().at(0).toString()));
    }

    void startWithoutTaskOrEndpointSaysWhy() {
        Harness h("auto");
        auto s = h.window->form()->settings();
        s.task.clear();
        h.window->form()->set_settings(s);
        h.window->start_run();
        QCOMPARE(h.window->state(), RunState::idle);
        QCOMPARE(h.window->last_error(), QString("Enter a task first."));
        s.task = "x";
        s.endpoint.clear();
        h.window->form()->set_settings(s);
        h.window->start_run();
        QTRY_COMPARE(h.window->state(), RunState::idle);
        QVERIFY2(h.window->last_error().contains("no model endpoint"),
                 qPrintable(h.window->last_error()));
        s.endpoint = "ftp:/nowhere";
        h.window->form()->set_settings(s);
        h.window->start_run();
        QTRY_COMPARE(h.window->state(), RunState::idle);
        QVERIFY2(h.window->last_error().startsWith("Cannot start: ") &&
                     h.window->last_error().contains("ftp:/nowhere"),
                 qPrintable(h.window->last_error()));
    }

    void zoomKeepsTheMappingExact() {
        panel::ScreenshotView view;
        view.resize(640, 400);
        QImage image(1280, 800, QImage::Format_RGB32);
        image.fill(Qt::gray);
        view.set_image(image, QPoint(100, 50));  // a monitor whose top-left is at (100, 50)
        for (double zoom : {1.0, 2.0, 3.5}) {
            view.set_zoom(zoom);
            for (vision::Point p :
                 {vision::Point{100, 50}, vision::Point{740, 450}, vision::Point{1379, 849}}) {
                const QPointF w = view.to_widget(p);
                QCOMPARE(view.to_screen(w), p);
            }
        }
        view.set_zoom(1.0);
        QCOMPARE(view.to_widget({100, 50}).toPoint(), QPoint(0, 0));  // fits 640x400 exactly
        QTest::keyClick(&view, Qt::Key_Plus);
        QVERIFY(view.zoom() > 1.0);
        QTest::keyClick(&view, Qt::Key_0);
        QCOMPARE(view.zoom(), 1.0);
    }

    void panelCommandNamesBadInput() {
        auto run = [](const QStringList& args, bool with_platform) {
            QProcess p;
            QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
            env.remove("DISPLAY");
            env.remove("WAYLAND_DISPLAY");
            if (!with_platform) env.remove("QT_QPA_PLATFORM");
            p.setProcessEnvironment(env);
            p.start(DESKPILOT_BIN_DIR "/deskpilot", QStringList{"panel"} + args);
            p.waitForFinished(20000);
            return std::pair{p.exitCode(), QString::fromUtf8(p.readAllStandardError())};
        };
        auto [code, err] = run({}, false);
        QCOMPARE(code, 1);
        QVERIFY2(err.contains("DISPLAY"), qPrintable(err));
        std::tie(code, err) = run({"--hotkey", "ctrl+hyper+Escape"}, true);
        QCOMPARE(code, 2);
        QVERIFY2(err.contains("unknown modifier 'hyper'"), qPrintable(err));
        std::tie(code, err) = run({"--sessions", "/proc/deskpilot-no/sessions"}, true);
        QCOMPARE(code, 1);
        QVERIFY2(err.contains("/proc/deskpilot-no/sessions"), qPrintable(err));
    }

    // Session folders are named to the second: the same task started again within that second
    // (stop, then Run at once) must get a folder of its own, not fail.
    void restartingTheSameTaskGetsItsOwnSessionFolder() {
        Harness h("each");
        h.server.set_handler([](const RecordedRequest& r) {
            return ScriptedReply::answer(click_answer(r, {200, 150}, "waits for a person"));
        });
        const auto root = std::filesystem::path(h.tmp.filePath("sessions").toStdString());
        std::filesystem::create_directories(root);
        // The folder this second's run would take is taken already.
        const auto taken = root / agent::session_folder_name("Press the buttons");
        std::filesystem::create_directories(taken);
        std::ofstream(taken / "manifest.json") << "{}";
        QSignalSpy ended(h.window.get(), &panel::MainWindow::runEnded);
        h.window->start_run();
        QTRY_VERIFY(h.window->state() == RunState::awaiting_approval || ended.count() > 0);
        QVERIFY2(ended.isEmpty(), qPrintable(ended.value(0).value(1).toString()));
        QVERIFY(std::filesystem::path(h.window->session_dir().toStdString()) != taken);
        const QString first = h.window->session_dir();
        h.window->stop();
        QTRY_COMPARE(h.window->state(), RunState::idle);
        ended.clear();
        h.window->start_run();
        QTRY_VERIFY(h.window->state() == RunState::awaiting_approval || ended.count() > 0);
        QVERIFY2(ended.isEmpty(), qPrintable(ended.value(0).value(1).toString()));
        QVERIFY(h.window->session_dir() != first);
        h.window->stop();
        QTRY_COMPARE(h.window->state(), RunState::idle);
    }

    void closingTheWindowStopsTheRun() {
        Harness h("each");
        h.server.set_handler([](const RecordedRequest& r) {
            return ScriptedReply::answer(click_answer(r, {200, 150}, "waits for a person"));
        });
        h.window->start_run();
        QTRY_COMPARE(h.window->state(), RunState::awaiting_approval);
        const QString dir = h.window->session_dir();
        h.window->close();  // returns only when the worker has ended
        QVERIFY(h.clicks->all().empty());
        QCOMPARE(agent::load_session(dir.toStdString()).manifest.status, std::string("stopped"));
    }

    void shortcutsAreUnique() {
        Harness h("auto");
        QMap<QString, QString> owner;
        auto add = [&](const QKeySequence& key, const QString& who) {
            if (key.isEmpty()) return;
            const QString k = key.toString();
            QVERIFY2(!owner.contains(k),
                     qPrintable(k + " is used by " + owner.value(k) + " and " + who));
            owner.insert(k, who);
        };
        for (auto* b : h.window->findChildren<QPushButton*>())
            add(b->shortcut(), b->accessibleName());
        for (auto* s : h.window->findChildren<QShortcut*>()) add(s->key(), "a window shortcut");
        QVERIFY(owner.contains("Esc"));
        QVERIFY(owner.size() >= 12);
    }

    void panelCommandSavesSettingsOnSigterm() {
        QTemporaryDir tmp;
        QProcess p;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("QT_QPA_PLATFORM", "offscreen");
        p.setProcessEnvironment(env);
        p.start(DESKPILOT_BIN_DIR "/deskpilot",
                {"panel", "--sessions", tmp.filePath("sessions"), "--settings",
                 tmp.filePath("panel.ini"), "--hotkey", ""});
        QByteArray out;
        QTRY_VERIFY2_WITH_TIMEOUT(
            (out += p.readAllStandardOutput()).contains("deskpilot panel: sessions in"),
            out + p.readAllStandardError(), 20000);
        p.terminate();
        QVERIFY(p.waitForFinished(20000));
        QCOMPARE(p.exitStatus(), QProcess::NormalExit);
        QCOMPARE(p.exitCode(), 0);
        QSettings saved(tmp.filePath("panel.ini"), QSettings::IniFormat);
        QVERIFY(saved.contains("window/geometry"));
        QCOMPARE(saved.value("run/approval").toString(), QString("each"));
    }

    void everyControlHasAnAccessibleName() {
        Harness h("auto");
        for (auto* w : h.window->findChildren<QWidget*>()) {
            if (!qobject_cast<QPushButton*>(w) && !qobject_cast<QLineEdit*>(w) &&
                !qobject_cast<QSpinBox*>(w) && !qobject_cast<QComboBox*>(w))
                continue;
            if (w->parent() && qobject_cast<QAbstractSpinBox*>(w->parent()))
                continue;  // a spin box's own line edit
            if (w->parent() && qobject_cast<QComboBox*>(w->parent())) continue;
            QVERIFY2(!w->accessibleName().isEmpty(),
                     qPrintable(w->metaObject()->className() + QString(" ") + w->objectName()));
        }
    }
};

QTEST_MAIN(PanelWindowTest)
#include "test_panel_window.moc"
