// Offscreen screenshots for training data: with QT_QPA_PLATFORM=offscreen there is no X server
// to capture, so the sandbox paints its own window (and any open menu or dialog) into an image
// the size of the --geometry screen. `--do` steps (click:NAME, double:NAME, right:NAME,
// type:TEXT, key:SEQUENCE) are replayed first, so a mid-task screen (a menu open, a tab switched,
// a dialog shown, text typed) can be rendered too.
#pragma once

#include <QImage>
#include <QRect>
#include <QString>
#include <QStringList>

#include <functional>
#include <optional>

namespace deskpilot::sandbox {

class SandboxWindow;

struct ScriptStep {
    enum class Kind { click, double_click, right_click, type, key, scroll } kind;
    QString arg;        // widget name, text or key sequence
    QString direction;  // scroll: up, down, left, right
};

// Parses "click:save", "type:Ada", "key:ctrl+s", "scroll:list:down", …; nullopt with `error` set
// for a bad step.
std::optional<ScriptStep> parse_script_step(const QString& text, QString* error);

// The screen as a user would see it: black where no window is, the sandbox window, then every
// other visible top-level widget (menus, dialogs, combo pop-ups) at its place. `screen` is in
// screen pixels; `scale` is the device pixel ratio.
QImage render_screen(const QRect& screen, double scale);

// Replays `steps` on the window one by one (each after the previous one's effects have had time
// to show, since menus and dialogs run nested event loops), then calls `done` with "" or an
// error naming the step that failed.
void run_script(SandboxWindow& window, std::vector<ScriptStep> steps,
                std::function<void(const QString& error)> done);

}  // namespace deskpilot::sandbox
