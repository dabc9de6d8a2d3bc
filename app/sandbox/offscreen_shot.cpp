#include "offscreen_shot.h"

#include <QApplication>
#include <QKeySequence>
#include <QPainter>
#include <QPixmap>
#include <QTest>
#include <QTimer>
#include <QWheelEvent>
#include <QWidget>

#include <algorithm>
#include <memory>

#include "sandbox_window.h"

namespace deskpilot::sandbox {

namespace {

// Long enough for a click's effects (a menu popping up, a dialog opening, a layout export) to
// show; the offscreen platform paints synchronously, so this is event-loop turns, not frames.
constexpr int kStepDelayMs = 120;
// Wheel clicks per scroll step: agent::ActionExecutorOptions::scroll_clicks.
constexpr int kScrollClicks = 5;

struct Target {
    QWidget* widget = nullptr;
    QPoint local;
};

// The topmost widget at a global point. Not QApplication::widgetAt: the offscreen platform's
// screen is 800x600 whatever --geometry says, and widgetAt finds nothing outside it.
QWidget* widget_at(const QPoint& global) {
    QWidget* best = nullptr;
    int best_rank = -1;
    for (QWidget* w : QApplication::topLevelWidgets()) {
        if (!w->isVisible() || !w->geometry().contains(global)) continue;
        const int rank = w->windowType() == Qt::Popup ? 2 : w->isModal() ? 1 : 0;
        if (rank <= best_rank) continue;
        best_rank = rank;
        QWidget* child = w->childAt(w->mapFromGlobal(global));
        best = child ? child : w;
    }
    return best;
}

// The widget under a named layout entry's centre, found by its screen rectangle so menu titles,
// list items and tabs (which are not widgets of their own) work like everything else.
std::optional<Target> find_target(const SandboxWindow& window, const QString& name,
                                  QString* error) {
    const nlohmann::json layout = window.layout_json();
    const double scale = layout.value("scale", 1.0);
    for (const auto& w : layout.at("widgets")) {
        if (w.value("name", std::string()) != name.toStdString()) continue;
        if (!w.value("visible", false)) {
            *error = "widget '" + name + "' is not visible";
            return std::nullopt;
        }
        const auto& r = w.at("rect");
        const QPoint centre(qRound((r[0].get<int>() + r[2].get<int>() / 2.0) / scale),
                            qRound((r[1].get<int>() + r[3].get<int>() / 2.0) / scale));
        QWidget* at = widget_at(centre);
        if (!at) {
            *error = "nothing is under widget '" + name + "'";
            return std::nullopt;
        }
        return Target{at, at->mapFromGlobal(centre)};
    }
    *error = "no widget named '" + name + "' in the layout";
    return std::nullopt;
}

QWidget* key_receiver(SandboxWindow& window) {
    if (QWidget* popup = QApplication::activePopupWidget()) return popup;
    if (QWidget* modal = QApplication::activeModalWidget()) {
        QWidget* focus = modal->focusWidget();
        return focus ? focus : modal;
    }
    if (QWidget* focus = QApplication::focusWidget()) return focus;
    return &window;
}

bool run_step(SandboxWindow& window, const ScriptStep& step, QString* error) {
    using Kind = ScriptStep::Kind;
    switch (step.kind) {
        case Kind::click:
        case Kind::double_click:
        case Kind::right_click: {
            const auto target = find_target(window, step.arg, error);
            if (!target) return false;
            if (step.kind == Kind::double_click) {
                // A double click is a click, then a press that the widget sees as the second.
                QTest::mouseClick(target->widget, Qt::LeftButton, {}, target->local);
                QTest::mouseDClick(target->widget, Qt::LeftButton, {}, target->local);
            } else if (step.kind == Kind::right_click) {
                QTest::mouseClick(target->widget, Qt::RightButton, {}, target->local);
                QContextMenuEvent menu(QContextMenuEvent::Mouse, target->local,
                                       target->widget->mapToGlobal(target->local));
                QApplication::sendEvent(target->widget, &menu);
            } else {
                QTest::mouseClick(target->widget, Qt::LeftButton, {}, target->local);
            }
            return true;
        }
        case Kind::type: {
            QString text = step.arg;
            const bool enter = text.endsWith('\n');
            if (enter) text.chop(1);
            QTest::keyClicks(key_receiver(window), text);
            if (enter) QTest::keyClick(key_receiver(window), Qt::Key_Return);
            return true;
        }
        case Kind::scroll: {
            const auto target = find_target(window, step.arg, error);
            if (!target) return false;
            const int d = step.direction == "up" || step.direction == "left" ? 120 : -120;
            const bool vertical = step.direction == "up" || step.direction == "down";
            const QPoint angle = vertical ? QPoint(0, d) : QPoint(d, 0);
            for (int i = 0; i < kScrollClicks; ++i) {
                QWheelEvent wheel(QPointF(target->local),
                                  QPointF(target->widget->mapToGlobal(target->local)), QPoint(),
                                  angle, Qt::NoButton, Qt::NoModifier, Qt::NoScrollPhase, false);
                QApplication::sendEvent(target->widget, &wheel);
            }
            return true;
        }
        case Kind::key: {
            const QKeySequence seq(step.arg, QKeySequence::PortableText);
            if (seq.isEmpty() || seq[0].key() == Qt::Key_unknown) {
                *error = "key '" + step.arg + "' is not a key sequence";
                return false;
            }
            QTest::keySequence(key_receiver(window), seq);
            return true;
        }
    }
    return false;
}

}  // namespace

std::optional<ScriptStep> parse_script_step(const QString& text, QString* error) {
    const qsizetype colon = text.indexOf(':');
    const QString verb = colon < 0 ? text : text.left(colon);
    QString arg = colon < 0 ? QString() : text.mid(colon + 1);
    static const std::pair<const char*, ScriptStep::Kind> kVerbs[] = {
        {"click", ScriptStep::Kind::click},       {"double", ScriptStep::Kind::double_click},
        {"right", ScriptStep::Kind::right_click}, {"type", ScriptStep::Kind::type},
        {"key", ScriptStep::Kind::key},           {"scroll", ScriptStep::Kind::scroll}};
    for (const auto& [name, kind] : kVerbs) {
        if (verb != name) continue;
        if (arg.isEmpty()) {
            *error = "step '" + text + "': missing the part after '" + verb + ":'";
            return std::nullopt;
        }
        if (kind == ScriptStep::Kind::type) arg.replace("\\n", "\n");
        if (kind == ScriptStep::Kind::scroll) {
            const qsizetype at = arg.lastIndexOf(':');
            const QString direction = at < 0 ? QString() : arg.mid(at + 1);
            if (!QStringList{"up", "down", "left", "right"}.contains(direction)) {
                *error = "step '" + text + "': expected scroll:NAME:up|down|left|right";
                return std::nullopt;
            }
            return ScriptStep{kind, arg.left(at), direction};
        }
        return ScriptStep{kind, arg, {}};
    }
    *error = "step '" + text +
             "': expected click:NAME, double:NAME, right:NAME, type:TEXT, key:SEQ or "
             "scroll:NAME:DIRECTION";
    return std::nullopt;
}

QImage render_screen(const QRect& screen, double scale) {
    QImage image(screen.size(), QImage::Format_RGB32);
    image.fill(Qt::black);
    image.setDevicePixelRatio(scale);
    QPainter painter(&image);
    painter.translate(-screen.x() / scale, -screen.y() / scale);
    // Ordinary windows first, pop-ups (menus, combo lists) above them, as a window manager
    // stacks them.
    std::vector<QWidget*> windows;
    for (QWidget* w : QApplication::topLevelWidgets())
        if (w->isVisible() && !w->isMinimized()) windows.push_back(w);
    std::stable_sort(windows.begin(), windows.end(), [](QWidget* a, QWidget* b) {
        const auto rank = [](QWidget* w) {
            return w->windowType() == Qt::Popup ? 2 : w->isModal() ? 1 : 0;
        };
        return rank(a) < rank(b);
    });
    for (QWidget* w : windows) painter.drawPixmap(w->geometry().topLeft(), w->grab());
    return image;
}

void run_script(SandboxWindow& window, std::vector<ScriptStep> steps,
                std::function<void(const QString& error)> done) {
    auto state =
        std::make_shared<std::pair<std::vector<ScriptStep>, std::size_t>>(std::move(steps), 0);
    auto next = std::make_shared<std::function<void()>>();
    // The next step is scheduled before this one runs: a click that opens a menu or a dialog
    // enters a nested event loop and returns only when it closes, and the timer fires inside it.
    *next = [&window, state, next, done] {
        auto& [list, index] = *state;
        if (index > list.size()) return;  // stopped by a failed step
        if (index == list.size()) {
            window.export_layout_now();
            done({});
            return;
        }
        const ScriptStep step = list[index++];
        QTimer::singleShot(kStepDelayMs, &window, [next] { (*next)(); });
        QString error;
        if (!run_step(window, step, &error)) {
            index = list.size() + 1;  // stop the chain
            done(error);
        }
    };
    QTimer::singleShot(0, &window, [next] { (*next)(); });
}

}  // namespace deskpilot::sandbox
