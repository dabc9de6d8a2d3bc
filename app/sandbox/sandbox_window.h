// The sandbox practice window: a real Qt Widgets form that the agent works on in tests, demos
// and evaluation. Every user-visible change is reported to the StateLog, and the layout
// (every widget's name, role, label and screen rectangle) is exported as JSON.
#pragma once

#include <QMainWindow>
#include <QPointer>
#include <QString>
#include <QTimer>

#include <functional>
#include <vector>

#include <nlohmann/json.hpp>

#include "seeded_choices.h"
#include "state_log.h"

class QCheckBox;
class QComboBox;
class QDialog;
class QLineEdit;
class QListWidget;
class QMenu;
class QPlainTextEdit;
class QScrollArea;
class QSlider;
class QTabWidget;

namespace deskpilot::sandbox {

class SandboxWindow : public QMainWindow {
    Q_OBJECT
  public:
    SandboxWindow(SeededChoices& choices, StateLog& log, QString layout_path);

    // The layout as JSON (rectangles in screen pixels).
    nlohmann::json layout_json() const;
    // Rewrites the layout file soon (coalescing bursts of changes).
    void schedule_layout_export();
    void export_layout_now();

  protected:
    void closeEvent(QCloseEvent* event) override;
    bool eventFilter(QObject* watched, QEvent* event) override;

  private:
    struct Entry {
        QString name;
        QString role;
        std::function<QString()> label;
        QPointer<QWidget> widget;
    };

    void build_menus();
    QWidget* build_form_panel();
    QWidget* build_choice_panel();
    QWidget* build_button_panel();
    QWidget* build_list_panel();
    QWidget* build_slider_panel();
    QWidget* build_hscroll_panel();
    QWidget* build_tab_panel();
    void open_dialog();
    void track(QWidget* widget, const QString& name, const QString& role,
               std::function<QString()> label);
    void track_menu(QMenu* menu, const QString& path);
    void set_status(const QString& text);

    SeededChoices& choices_;
    StateLog& log_;
    QString layout_path_;
    QTimer layout_timer_;
    std::vector<Entry> entries_;
    std::vector<std::pair<QPointer<QMenu>, QString>> menus_;
    QPointer<QDialog> dialog_;
    QListWidget* list_ = nullptr;
    QTabWidget* tabs_ = nullptr;
    QScrollArea* hscroll_ = nullptr;
    QColor swatch_colour_;
    QWidget* status_ = nullptr;
    std::optional<std::uint32_t> seed_;
};

}  // namespace deskpilot::sandbox
