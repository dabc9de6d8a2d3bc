// The panel's window on the offscreen platform, driving a real Agent against the loopback
// scripted model: control enable/disable in every state, approve / edit / reject, call_user,
// settings persistence, the session browser and the report. No X server: the screen is a still
// picture and the hands are a click recorder (see panel_fixture.h).
#include <QComboBox>
#include <QDialog>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QProcess>
#include <QPushButton>
#include <QSettings>
#include <QShortcut>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableView>
#include <QtTest>

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

    explicit Harness(const QString& approval) {
        settings = std::make_shared<QSettings>(tmp.filePath("panel.ini"), QSettings::IniFormat);
        window =
            std::make_unique<panel::MainWindow>(settings, tmp.filePath("sessions").toStdString());
        window->set_hotkey({});  // no X display here
        window->set_backend_factory([this](const panel::RunSettings& s) {
            panel::Backend b;
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
        QCOMPARE(h.window->state(), RunState::running);
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
        QVERIFY(h.server.wait_for_requests(1, std::chrono::seconds(10)));
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
        QCOMPARE(h.window->state(), RunState::idle);
        QVERIFY2(h.window->last_error().contains("no model endpoint"),
                 qPrintable(h.window->last_error()));
        s.endpoint = "ftp:/nowhere";
        h.window->form()->set_settings(s);
        h.window->start_run();
        QCOMPARE(h.window->state(), RunState::idle);
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
