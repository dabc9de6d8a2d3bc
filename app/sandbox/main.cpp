// deskpilot-sandbox: the practice app that end-to-end tests, demos and evaluations act on.
//   --state FILE        every user-visible change as one JSON line; {"event":"ready"} first
//   --layout-json FILE  every widget's name, role, label and screen rectangle
//   --seed N            deterministic variation of labels, order, spacing and colours
//   --geometry WxH+X+Y  window geometry in screen pixels
//   --scale F           HiDPI scale factor
//   --screenshot FILE   paint the screen to FILE (PNG) once ready, after any --do steps, and exit;
//                       works without X (QT_QPA_PLATFORM=offscreen), for training data
//   --do STEP           before the screenshot: click:NAME, double:NAME, right:NAME, type:TEXT,
//                       key:SEQ, scroll:NAME:DIRECTION (repeatable, in order)
#include <QApplication>
#include <QCommandLineParser>
#include <QRegularExpression>
#include <QTimer>
#include <QWindow>

#include <cstdio>
#include <cstdlib>
#include <optional>

#include "offscreen_shot.h"
#include "sandbox_window.h"
#include "seeded_choices.h"
#include "state_log.h"

namespace {

[[noreturn]] void fail(const std::string& message) {
    std::fprintf(stderr, "deskpilot-sandbox: %s\n", message.c_str());
    std::fflush(stderr);
    // _Exit, not exit: Qt's X connection thread may already run, and tearing it down from
    // exit()'s static destructors can hang. Nothing is left to flush (state lines are flushed
    // as they are written).
    std::_Exit(2);
}

// Options Qt must not see: QApplication reads its scale factor from the environment when it
// is built, and the xcb platform claims "-geometry" for itself (in logical pixels). So these
// are taken out of argv before Qt looks at it.
struct EarlyOptions {
    std::optional<double> scale;
    std::optional<QString> geometry;
};

EarlyOptions take_early_options(int& argc, char** argv) {
    EarlyOptions early;
    int kept = 1;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const bool is_scale = arg == "--scale" || arg == "-scale";
        const bool is_geometry = arg == "--geometry" || arg == "-geometry";
        if (!is_scale && !is_geometry) {
            argv[kept++] = argv[i];
            continue;
        }
        if (i + 1 >= argc) fail(arg + ": missing value");
        const char* value = argv[++i];
        if (is_geometry) {
            early.geometry = QString::fromLocal8Bit(value);
            continue;
        }
        char* end = nullptr;
        const double scale = std::strtod(value, &end);
        if (!end || *end != '\0' || !(scale >= 0.5 && scale <= 4.0))
            fail(std::string("--scale '") + value + "': expected a number between 0.5 and 4");
        early.scale = scale;
    }
    argc = kept;
    argv[argc] = nullptr;
    return early;
}

}  // namespace

int main(int argc, char** argv) {
    const EarlyOptions early = take_early_options(argc, argv);
    if (early.scale) {
        qputenv("QT_SCALE_FACTOR", QByteArray::number(*early.scale));
        qputenv("QT_ENABLE_HIGHDPI_SCALING", "1");
    }
    QApplication app(argc, argv);
    QApplication::setApplicationName("deskpilot-sandbox");

    QCommandLineParser parser;
    parser.setApplicationDescription("Deskpilot's practice app for agents, tests and demos");
    parser.addHelpOption();
    const QCommandLineOption state_opt(
        "state", "Append every user-visible change as a JSON line to FILE.", "FILE");
    const QCommandLineOption layout_opt(
        "layout-json", "Write every widget's name, role, label and rectangle to FILE.", "FILE");
    const QCommandLineOption seed_opt(
        "seed", "Vary labels, order, spacing and colours deterministically.", "N");
    // Listed for --help only; take_early_options has already consumed them.
    const QCommandLineOption geometry_opt("geometry", "Window geometry in screen pixels.",
                                          "WxH+X+Y");
    const QCommandLineOption scale_opt("scale", "HiDPI scale factor (0.5 to 4).", "F");
    const QCommandLineOption screenshot_opt(
        "screenshot", "Paint the screen to FILE (PNG) once ready, then exit (works offscreen).",
        "FILE");
    const QCommandLineOption do_opt(
        "do",
        "Before --screenshot: click:NAME, double:NAME, right:NAME, type:TEXT, key:SEQ or "
        "scroll:NAME:DIRECTION (repeatable).",
        "STEP");
    parser.addOptions(
        {state_opt, layout_opt, seed_opt, geometry_opt, scale_opt, screenshot_opt, do_opt});
    parser.process(app);

    std::optional<std::uint32_t> seed;
    if (parser.isSet(seed_opt)) {
        bool ok = false;
        const uint value = parser.value(seed_opt).toUInt(&ok);
        if (!ok)
            fail("--seed '" + parser.value(seed_opt).toStdString() +
                 "': expected a non-negative integer");
        seed = value;
    }
    QRect geometry(0, 0, 1024, 720);
    if (early.geometry) {
        static const QRegularExpression re(R"(^(\d+)x(\d+)(?:\+(-?\d+)\+(-?\d+))?$)");
        const auto m = re.match(*early.geometry);
        if (!m.hasMatch())
            fail("--geometry '" + early.geometry->toStdString() +
                 "': expected WxH+X+Y, e.g. 1024x720+0+0");
        geometry = QRect(m.captured(3).toInt(), m.captured(4).toInt(), m.captured(1).toInt(),
                         m.captured(2).toInt());
    }

    std::vector<deskpilot::sandbox::ScriptStep> script;
    for (const QString& text : parser.values(do_opt)) {
        QString error;
        const auto step = deskpilot::sandbox::parse_script_step(text, &error);
        if (!step) fail("--do " + error.toStdString());
        script.push_back(*step);
    }
    const QString screenshot = parser.value(screenshot_opt);
    if (!script.empty() && screenshot.isEmpty()) fail("--do needs --screenshot FILE");
    if (!screenshot.isEmpty() && !screenshot.endsWith(".png", Qt::CaseInsensitive))
        fail("--screenshot '" + screenshot.toStdString() + "': expected a .png file name");
    if (geometry.width() <= 0 || geometry.height() <= 0)
        fail("--geometry '" + early.geometry.value_or("").toStdString() + "': empty size");

    deskpilot::sandbox::StateLog log;
    if (!log.open(parser.value(state_opt)))
        fail("cannot open --state file '" + parser.value(state_opt).toStdString() +
             "' for writing");

    deskpilot::sandbox::SeededChoices choices(seed);
    deskpilot::sandbox::SandboxWindow window(choices, log, parser.value(layout_opt));
    // Geometry is given in screen pixels; Qt positions windows in logical pixels.
    const double scale = early.scale.value_or(1.0);
    // Offscreen windows get an emulated 2-pixel frame; on a bare X server (evaluations, Xvfb
    // without a window manager) the client area starts at the geometry's corner, so match that.
    if (!screenshot.isEmpty()) window.setWindowFlag(Qt::FramelessWindowHint);
    window.move(qRound(geometry.x() / scale), qRound(geometry.y() / scale));
    window.resize(qRound(geometry.width() / scale), qRound(geometry.height() / scale));
    window.show();
    window.raise();

    // Ready once the window is mapped and exposed and has painted: the layout is exported
    // first, so whoever sees "ready" can read rectangles that are already on screen.
    auto* poll = new QTimer(&app);
    poll->setInterval(10);
    QObject::connect(poll, &QTimer::timeout, &app, [&, poll] {
        if (!window.windowHandle() || !window.windowHandle()->isExposed()) return;
        poll->stop();
        window.activateWindow();
        QTimer::singleShot(100, &app, [&] {
            window.export_layout_now();
            nlohmann::json ready = {
                {"seed", seed ? nlohmann::json(*seed) : nlohmann::json(nullptr)}};
            log.write("ready", ready);
            if (screenshot.isEmpty()) return;
            deskpilot::sandbox::run_script(window, script, [&](const QString& error) {
                if (!error.isEmpty()) fail("--do " + error.toStdString());
                const QImage image = deskpilot::sandbox::render_screen(geometry, scale);
                if (!image.save(screenshot, "PNG"))
                    fail("--screenshot '" + screenshot.toStdString() + "': cannot write");
                // Every loop, including a menu's or dialog's nested one, is told to leave.
                QApplication::exit(0);
            });
        });
    });
    poll->start();
    return app.exec();
}
