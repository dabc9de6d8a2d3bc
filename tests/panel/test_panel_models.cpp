// The models behind the panel's timeline and session browser, and the control rules per state.
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>
#include <fstream>

#include <nlohmann/json.hpp>

#include "agent/session.h"
#include "panel/global_hotkey.h"
#include "panel/qt_convert.h"
#include "panel/run_state.h"
#include "panel/session_list_model.h"
#include "panel/timeline_model.h"

using namespace deskpilot;
using panel::ControlEnables;
using panel::RunState;

namespace {

vision::Frame solid_frame(int w, int h, std::uint8_t value) {
    vision::Frame f;
    f.width = w;
    f.height = h;
    f.stride = static_cast<std::size_t>(w) * 4;
    f.pixels = std::make_shared<std::vector<std::uint8_t>>(f.stride * h, value);
    return f;
}

agent::StepRecord sample_step(int index) {
    agent::StepRecord s;
    s.index = index;
    s.thought = "Click the Save button.";
    s.reflection = "The form is filled.";
    s.actions = nlohmann::json::array(
        {{{"type", "click"}, {"x", 100}, {"y", 200}}, {{"type", "type"}, {"text", "hi\n"}}});
    s.approvals = nlohmann::json::array({"edited", "approved"});
    s.results = nlohmann::json::array({"ok", "ok"});
    s.capture_ms = 1.4;
    s.model_ms = 812;
    s.act_ms = 12;
    s.settle_ms = 300;
    s.prompt_tokens = 1500;
    s.completion_tokens = 42;
    return s;
}

// Writes a session with `steps` steps (screenshots included) under `dir`.
void write_session(const std::filesystem::path& dir, const std::string& task,
                   const std::string& started, int steps) {
    agent::Manifest m;
    m.task = task;
    m.started_at = started;
    agent::SessionWriter w(dir, m);
    for (int i = 1; i <= steps; ++i) {
        auto s = sample_step(i);
        s.screenshot =
            w.write_screenshot(i, solid_frame(320, 200, static_cast<std::uint8_t>(40 * i)));
        w.append_step(s);
    }
    w.finish("finished", "done");
}

QString cell(const QAbstractItemModel& m, int row, int column) {
    return m.data(m.index(row, column), Qt::DisplayRole).toString();
}

}  // namespace

class PanelModelsTest : public QObject {
    Q_OBJECT
  private slots:
    void timelineShowsEveryPartOfAStep() {
        panel::TimelineModel model;
        QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
        const QImage shot = panel::to_qimage(solid_frame(1280, 800, 90));
        model.add_step(sample_step(1), shot);
        model.add_step(sample_step(2), shot);
        QCOMPARE(inserted.count(), 2);
        QCOMPARE(model.rowCount(), 2);
        QCOMPARE(model.columnCount(), int(panel::TimelineModel::ColumnCount));
        using C = panel::TimelineModel;
        QCOMPARE(cell(model, 1, C::StepColumn), QString("2"));
        QCOMPARE(cell(model, 0, C::ThoughtColumn), QString("Click the Save button."));
        QCOMPARE(cell(model, 0, C::ReflectionColumn), QString("The form is filled."));
        QCOMPARE(cell(model, 0, C::ActionsColumn), QString("click (100, 200); type \"hi\\n\""));
        QCOMPARE(cell(model, 0, C::ApprovalColumn), QString("edited, approved"));
        QCOMPARE(cell(model, 0, C::TimingsColumn),
                 QString("capture 1 ms, model 812 ms, act 12 ms, settle 300 ms"));
        QCOMPARE(cell(model, 0, C::TokensColumn), QString("1500 / 42"));
        const auto thumb =
            model.data(model.index(0, C::ThumbnailColumn), Qt::DecorationRole).value<QImage>();
        QCOMPARE(thumb.width(), panel::TimelineModel::kThumbnailWidth);
        QCOMPARE(thumb.height(), 60);  // 1280x800 keeps its aspect ratio
        QCOMPARE(model.screenshot(1).size(), QSize(1280, 800));
        QCOMPARE(model.headerData(C::TokensColumn, Qt::Horizontal, Qt::DisplayRole).toString(),
                 QString("Tokens (in / out)"));
    }

    void timelineLoadsARecordedSession() {
        QTemporaryDir tmp;
        const std::filesystem::path dir = tmp.filePath("s").toStdString();
        write_session(dir, "fill the form", "2026-11-28T10:00:00.000Z", 3);
        panel::TimelineModel model;
        model.add_step(sample_step(9), {});
        QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
        model.load(agent::load_session(dir));
        QCOMPARE(reset.count(), 1);
        QCOMPARE(model.rowCount(), 3);
        QCOMPARE(model.data(model.index(2, 0), panel::TimelineModel::StepIndexRole).toInt(), 3);
        const QImage shot = model.screenshot(2);
        QCOMPARE(shot.size(), QSize(320, 200));
        QCOMPARE(qGray(shot.pixel(5, 5)), 120);  // step 3's own screenshot, not another step's
        QVERIFY(
            !model.data(model.index(0, panel::TimelineModel::ThumbnailColumn), Qt::DecorationRole)
                 .value<QImage>()
                 .isNull());
        QVERIFY(model.data(model.index(0, 0), panel::TimelineModel::ScreenshotPathRole)
                    .toString()
                    .endsWith("screenshots/000001.png"));
        model.clear();
        QCOMPARE(model.rowCount(), 0);
    }

    void liveStepsOnDiskAreNotHeldInMemory() {
        QTemporaryDir tmp;
        const std::filesystem::path dir = tmp.filePath("s").toStdString();
        write_session(dir, "t", "2026-11-28T10:00:00.000Z", 1);
        panel::TimelineModel model;
        model.set_session_dir(dir);
        auto s = agent::load_session(dir).steps.at(0);
        model.add_step(s, panel::to_qimage(solid_frame(1280, 800, 7)));  // what the view showed
        // The full picture comes from the file (value 40), the thumbnail from the live frame.
        QCOMPARE(qGray(model.screenshot(0).pixel(1, 1)), 40);
        const auto thumb = model.data(model.index(0, 1), Qt::DecorationRole).value<QImage>();
        QCOMPARE(qGray(thumb.pixel(1, 1)), 7);
    }

    void unreadableActionJsonIsShownAsIs() {
        panel::TimelineModel model;
        auto s = sample_step(1);
        s.actions = nlohmann::json::array({{{"type", "teleport"}}});
        model.add_step(s, {});
        QCOMPARE(cell(model, 0, panel::TimelineModel::ActionsColumn),
                 QString("{\"type\":\"teleport\"}"));
    }

    void errorsOfAStepAreShownWithItsActions() {
        panel::TimelineModel model;
        auto s = sample_step(1);
        s.actions = nlohmann::json::array();
        s.results = nlohmann::json::array({"error: no Action: line in the answer"});
        model.add_step(s, {});
        QCOMPARE(cell(model, 0, panel::TimelineModel::ActionsColumn),
                 QString("error: no Action: line in the answer"));
    }

    void liveStepsKeepTheirScreenOrigin() {
        // A step seen on a second monitor: its action is drawn relative to that monitor later.
        panel::TimelineModel model;
        QImage shot(64, 40, QImage::Format_RGB32);
        shot.fill(Qt::gray);
        model.add_step(sample_step(1), shot, QPoint(1920, 0));
        model.add_step(sample_step(2), shot);
        QCOMPARE(model.origin(0), QPoint(1920, 0));
        QCOMPARE(model.origin(1), QPoint(0, 0));
    }

    void sessionListShowsTaskDateStatusSteps() {
        QTemporaryDir tmp;
        const std::filesystem::path root = tmp.path().toStdString();
        write_session(root / "a", "older task", "2026-11-27T09:00:00.000Z", 2);
        write_session(root / "b", "newer task", "2026-11-28T09:00:00.000Z", 1);
        std::filesystem::create_directories(root / "not-a-session");
        std::filesystem::create_directories(root / "broken");
        std::ofstream(root / "broken" / "manifest.json") << "{ not json";
        panel::SessionListModel model;
        model.set_root(root);
        QCOMPARE(model.rowCount(), 3);  // a, b, broken; the plain folder is not a session
        using C = panel::SessionListModel;
        QCOMPARE(cell(model, 0, C::TaskColumn), QString("newer task"));  // newest first
        QCOMPARE(cell(model, 0, C::DateColumn), QString("2026-11-28T09:00:00.000Z"));
        QCOMPARE(cell(model, 0, C::StatusColumn), QString("finished"));
        QCOMPARE(cell(model, 0, C::StepsColumn), QString("1"));
        QCOMPARE(cell(model, 1, C::TaskColumn), QString("older task"));
        QCOMPARE(cell(model, 1, C::StepsColumn), QString("2"));
        QCOMPARE(cell(model, 2, C::TaskColumn), QString("broken"));
        QVERIFY2(cell(model, 2, C::StatusColumn).startsWith("unreadable: "),
                 qPrintable(cell(model, 2, C::StatusColumn)));
        QCOMPARE(model.data(model.index(1, 0), C::PathRole).toString(),
                 QString::fromStdString((root / "a").string()));
        QCOMPARE(model.path(1), root / "a");

        write_session(root / "c", "newest task", "2026-11-29T09:00:00.000Z", 0);
        model.refresh();
        QCOMPARE(model.rowCount(), 4);
        QCOMPARE(cell(model, 0, C::TaskColumn), QString("newest task"));
    }

    void missingSessionRootListsNothing() {
        panel::SessionListModel model;
        model.set_root("/nonexistent/deskpilot-sessions");
        QCOMPARE(model.rowCount(), 0);
    }

    void controlsPerState_data() {
        QTest::addColumn<int>("state");
        QTest::addColumn<QString>("enabled");  // run pause resume step stop approval form
        QTest::newRow("idle") << int(RunState::idle) << "R.....F";
        QTest::newRow("running") << int(RunState::running) << ".P..S..";
        QTest::newRow("paused") << int(RunState::paused) << "..RSS..";
        QTest::newRow("awaiting approval") << int(RunState::awaiting_approval) << "....SA.";
        QTest::newRow("awaiting reply") << int(RunState::awaiting_reply) << "....S..";
        QTest::newRow("stopping") << int(RunState::stopping) << ".......";
        QTest::newRow("starting") << int(RunState::starting) << "....S..";
    }
    void controlsPerState() {
        QFETCH(int, state);
        QFETCH(QString, enabled);
        const ControlEnables e = panel::enables_for(RunState(state));
        const bool got[] = {e.run, e.pause, e.resume, e.step, e.stop, e.approval, e.form};
        QString text;
        for (int i = 0; i < 7; ++i) text += got[i] ? enabled[i] : QChar('.');
        QCOMPARE(text, enabled);
        for (int i = 0; i < 7; ++i) QCOMPARE(got[i], enabled[i] != QChar('.'));
    }

    void hotkeySpecs() {
        using panel::GlobalHotkey;
        const auto def = GlobalHotkey::parse("ctrl+alt+Escape");
        QCOMPARE(def.key, std::string("Escape"));
        QCOMPARE(def.modifiers, GlobalHotkey::ctrl_alt());
        const auto f12 = GlobalHotkey::parse("Shift+F12");
        QCOMPARE(f12.key, std::string("F12"));
        QVERIFY(f12.modifiers != 0 && f12.modifiers != GlobalHotkey::ctrl_alt());
        auto error_of = [](const std::string& spec) -> QString {
            try {
                GlobalHotkey::parse(spec);
            } catch (const std::invalid_argument& e) {
                return QString::fromUtf8(e.what());
            }
            return {};
        };
        QVERIFY2(error_of("ctrl+hyper+Escape").contains("unknown modifier 'hyper'"),
                 qPrintable(error_of("ctrl+hyper+Escape")));
        QVERIFY2(error_of("ctrl+alt+").contains("names no key"), qPrintable(error_of("ctrl+alt+")));
        QVERIFY2(error_of("ctrl+NoSuchKey").contains("'NoSuchKey' is not an X key name"),
                 qPrintable(error_of("ctrl+NoSuchKey")));
    }
};

QTEST_MAIN(PanelModelsTest)
#include "test_panel_models.moc"
