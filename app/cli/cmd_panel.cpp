// deskpilot panel: the Qt control panel to start, supervise, approve, stop and review runs.
#include <unistd.h>
#include <QApplication>
#include <QSettings>
#include <QSocketNotifier>
#include <csignal>
#include <cstdio>

#include "agent/session.h"
#include "cli/command_registry.h"
#include "panel/global_hotkey.h"
#include "panel/main_window.h"

namespace deskpilot::cli {
namespace {

int signal_fds[2] = {-1, -1};

// The read end of a self-pipe that SIGINT/SIGTERM write to.
int signal_pipe() {
    return signal_fds[0];
}

void install_signal_pipe() {
    if (signal_fds[0] >= 0) return;
    if (pipe(signal_fds) != 0) throw CommandError("cannot create a pipe for signal handling");
    struct sigaction action {};
    action.sa_handler = [](int) {
        const char c = 's';
        (void)!write(signal_fds[1], &c, 1);
    };
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
}

class PanelCommand : public Command {
  public:
    std::string name() const override { return "panel"; }
    void configure(CLI::App& app) override {
        app.add_option("--sessions", sessions_,
                       "Folder of recorded sessions (default ~/.local/share/deskpilot/sessions)");
        app.add_option("--settings", settings_,
                       "Settings file (INI) instead of the user's Deskpilot settings");
        app.add_option("--hotkey", hotkey_,
                       "X keysym of the emergency stop key, pressed with Ctrl+Alt; '' disables it")
            ->capture_default_str();
    }
    int run() override {
        if (!hotkey_.empty()) {
            try {
                panel::GlobalHotkey::parse(hotkey_);
            } catch (const std::invalid_argument& e) {
                throw CommandError(e.what(), kExitUsage);
            }
        }
        int argc = 1;
        static char arg0[] = "deskpilot";
        char* argv[] = {arg0, nullptr};
        if (qEnvironmentVariableIsEmpty("DISPLAY") &&
            qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY") &&
            qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
            throw CommandError(
                "no display to show the panel on: set DISPLAY (or QT_QPA_PLATFORM=offscreen)");
        install_signal_pipe();
        QApplication app(argc, argv);
        QApplication::setOrganizationName(QStringLiteral("deskpilot"));
        QApplication::setApplicationName(QStringLiteral("deskpilot"));
        auto settings = settings_.empty()
                            ? std::make_shared<QSettings>()
                            : std::make_shared<QSettings>(QString::fromStdString(settings_),
                                                          QSettings::IniFormat);
        const std::filesystem::path root =
            sessions_.empty() ? agent::default_sessions_root() : std::filesystem::path(sessions_);
        std::error_code ec;
        std::filesystem::create_directories(root, ec);
        if (ec)
            throw CommandError("cannot create the sessions folder " + root.string() + ": " +
                               ec.message());
        panel::MainWindow window(settings, root);
        window.set_hotkey(QString::fromStdString(hotkey_));
        // Ctrl+C or SIGTERM closes the window like its close button: the run is stopped and the
        // settings are saved.
        QSocketNotifier notifier(signal_pipe(), QSocketNotifier::Read);
        QObject::connect(&notifier, &QSocketNotifier::activated, &window, [&window] {
            char c;
            (void)!read(signal_pipe(), &c, 1);
            window.close();
        });
        window.show();
        std::printf("deskpilot panel: sessions in %s\n", root.c_str());
        std::fflush(stdout);
        return QApplication::exec() == 0 ? kExitOk : kExitError;
    }

  private:
    std::string sessions_, settings_, hotkey_ = "ctrl+alt+Escape";
};

DESKPILOT_REGISTER_COMMAND(PanelCommand);

}  // namespace
}  // namespace deskpilot::cli
