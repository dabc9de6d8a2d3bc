#include "sandbox_window.h"

#include <QAction>
#include <QApplication>
#include <QButtonGroup>
#include <QCheckBox>
#include <QCloseEvent>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QFile>
#include <QFrame>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMenu>
#include <QMenuBar>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRadioButton>
#include <QSaveFile>
#include <QScreen>
#include <QScrollArea>
#include <QScrollBar>
#include <QShortcut>
#include <QSlider>
#include <QTabBar>
#include <QTabWidget>
#include <QVBoxLayout>

#include <cmath>

namespace deskpilot::sandbox {

namespace {

std::string s(const QString& text) {
    return text.toStdString();
}

// Qt 6 keeps a screen's top-left in native pixels and scales sizes from there, so a logical
// global point maps to screen pixels as origin + (p - origin) * ratio.
QRect to_screen_pixels(const QWidget* widget, const QRect& global) {
    const QScreen* screen = widget->screen();
    if (!screen) return global;
    const QPoint origin = screen->geometry().topLeft();
    const double r = screen->devicePixelRatio();
    const int x1 = origin.x() + static_cast<int>(std::lround((global.left() - origin.x()) * r));
    const int y1 = origin.y() + static_cast<int>(std::lround((global.top() - origin.y()) * r));
    const int x2 = origin.x() +
                   static_cast<int>(std::lround((global.left() + global.width() - origin.x()) * r));
    const int y2 = origin.y() +
                   static_cast<int>(std::lround((global.top() + global.height() - origin.y()) * r));
    return QRect(x1, y1, x2 - x1, y2 - y1);
}

nlohmann::json rect_json(const QRect& r) {
    return {r.x(), r.y(), r.width(), r.height()};
}

QRect global_rect(const QWidget* w) {
    return QRect(w->mapToGlobal(QPoint(0, 0)), w->size());
}

bool really_visible(const QWidget* w) {
    return w->isVisible() && !w->visibleRegion().isEmpty();
}

const std::vector<QColor> kSwatchPalette = {QColor("#d62728"), QColor("#1f77b4"),
                                            QColor("#2ca02c"), QColor("#ff7f0e"),
                                            QColor("#9467bd"), QColor("#17becf")};
const std::vector<QColor> kBackgroundPalette = {
    QColor("#efefef"), QColor("#f6f1e7"), QColor("#e8f0f7"), QColor("#eef5ea"), QColor("#f4eaf2")};

}  // namespace

SandboxWindow::SandboxWindow(SeededChoices& choices, StateLog& log, QString layout_path)
    : choices_(choices), log_(log), layout_path_(std::move(layout_path)) {
    setObjectName("sandbox");
    setWindowTitle("Deskpilot Sandbox");
    layout_timer_.setSingleShot(true);
    layout_timer_.setInterval(40);
    connect(&layout_timer_, &QTimer::timeout, this, &SandboxWindow::export_layout_now);

    QPalette pal = palette();
    pal.setColor(QPalette::Window, choices_.colour(kBackgroundPalette));
    setPalette(pal);
    setAutoFillBackground(true);

    build_menus();

    auto* central = new QWidget(this);
    auto* grid = new QGridLayout(central);
    const int margin = choices_.range(10, 24);
    grid->setContentsMargins(margin, margin, margin, margin);
    grid->setHorizontalSpacing(choices_.range(10, 22));
    grid->setVerticalSpacing(choices_.range(8, 18));

    // Seven panels in a 3-column grid; the seed permutes which cell each lands in.
    std::vector<QWidget*> panels = {build_form_panel(), build_choice_panel(), build_button_panel(),
                                    build_list_panel(), build_slider_panel(), build_hscroll_panel(),
                                    build_tab_panel()};
    const auto order = choices_.order(static_cast<int>(panels.size()));
    for (std::size_t i = 0; i < panels.size(); ++i) {
        const int cell = order[i];
        grid->addWidget(panels[i], cell / 3, cell % 3);
    }
    auto* status = new QLabel("Ready", central);
    status->setObjectName("status");
    status_ = status;
    grid->addWidget(status, 3, 0, 1, 3);
    track(status, "status", "label", [status] { return status->text(); });
    setCentralWidget(central);

    auto* save_shortcut = new QShortcut(QKeySequence("Ctrl+S"), this);
    connect(save_shortcut, &QShortcut::activated, this, [this] {
        log_.write("shortcut", {{"seq", "Ctrl+S"}});
        log_.write("saved", {{"via", "shortcut"}});
        set_status("Saved (Ctrl+S)");
    });
    qApp->installEventFilter(this);
}

void SandboxWindow::track(QWidget* widget, const QString& name, const QString& role,
                          std::function<QString()> label) {
    widget->setObjectName(name);
    widget->setAccessibleName(label());
    entries_.push_back({name, role, std::move(label), widget});
}

void SandboxWindow::set_status(const QString& text) {
    static_cast<QLabel*>(status_)->setText(text);
}

void SandboxWindow::track_menu(QMenu* menu, const QString& path) {
    menus_.emplace_back(menu, path);
    menu->installEventFilter(this);
    for (QAction* action : menu->actions()) {
        if (action->isSeparator() || action->menu()) continue;
        const QString item_path = path + "/" + action->text().remove('&');
        connect(action, &QAction::triggered, this, [this, item_path] {
            log_.write("menu", {{"path", s(item_path)}});
            set_status("Menu: " + item_path);
            if (item_path == "File/Save") log_.write("saved", {{"via", "menu"}});
            if (item_path == "File/Quit") close();
        });
    }
}

void SandboxWindow::build_menus() {
    QMenu* file = menuBar()->addMenu("&File");
    file->setObjectName("menu_file");
    file->addAction("New");
    file->addAction("Open");
    // The Ctrl+S shown here is a hint; the QShortcut owns the key so the log can tell a
    // shortcut from a menu click.
    file->addAction("Save")->setShortcutVisibleInContextMenu(true);
    file->addSeparator();
    file->addAction("Quit");
    QMenu* edit = menuBar()->addMenu("&Edit");
    edit->setObjectName("menu_edit");
    for (const char* item : {"Undo", "Cut", "Copy", "Paste", "Select All"}) edit->addAction(item);
    track_menu(file, "File");
    track_menu(edit, "Edit");
}

QWidget* SandboxWindow::build_form_panel() {
    auto* box = new QGroupBox(choices_.pick({"Profile", "Details", "Contact"}));
    auto* form = new QGridLayout(box);
    auto* name_label = new QLabel(choices_.pick({"Name", "Full name", "Your name"}));
    auto* name = new QLineEdit;
    name->setMinimumWidth(choices_.range(160, 240));
    name_label->setBuddy(name);
    auto* notes_label = new QLabel(choices_.pick({"Notes", "Comments", "Remarks"}));
    auto* notes = new QPlainTextEdit;
    notes->setMinimumHeight(choices_.range(60, 90));
    form->addWidget(name_label, 0, 0);
    form->addWidget(name, 0, 1);
    form->addWidget(notes_label, 1, 0, Qt::AlignTop);
    form->addWidget(notes, 1, 1);
    track(name, "name", "text_field", [name_label] { return name_label->text(); });
    track(notes, "notes", "text_area", [notes_label] { return notes_label->text(); });
    connect(name, &QLineEdit::textChanged, this, [this](const QString& text) {
        log_.write("text", {{"widget", "name"}, {"value", s(text)}});
    });
    connect(name, &QLineEdit::returnPressed, this, [this, name] {
        log_.write("submitted", {{"widget", "name"}, {"value", s(name->text())}});
        set_status("Submitted: " + name->text());
    });
    connect(notes, &QPlainTextEdit::textChanged, this, [this, notes] {
        log_.write("text", {{"widget", "notes"}, {"value", s(notes->toPlainText())}});
    });
    return box;
}

QWidget* SandboxWindow::build_choice_panel() {
    auto* box = new QGroupBox(choices_.pick({"Options", "Preferences", "Choices"}));
    auto* layout = new QVBoxLayout(box);
    auto* check =
        new QCheckBox(choices_.pick({"I agree", "Remember me", "Subscribe", "Enable sync"}));
    // Check boxes and radio buttons keep their natural width: a stretched one reports a
    // rectangle whose centre is empty space that does not toggle it.
    layout->addWidget(check, 0, Qt::AlignLeft);
    track(check, "agree", "checkbox", [check] { return check->text(); });
    connect(check, &QCheckBox::toggled, this, [this](bool on) {
        log_.write("checked", {{"widget", "agree"}, {"value", on}});
    });

    const QStringList sizes = {"Small", "Medium", "Large"};
    const QStringList alt = {"Low", "Normal", "High"};
    const bool use_alt = choices_.range(0, 1) == 1;
    auto* group = new QButtonGroup(box);
    for (int i = 0; i < 3; ++i) {
        auto* radio = new QRadioButton(use_alt ? alt[i] : sizes[i]);
        if (i == 0) radio->setChecked(true);
        group->addButton(radio, i);
        layout->addWidget(radio, 0, Qt::AlignLeft);
        const QString name = "radio_" + QString::number(i + 1);
        track(radio, name, "radio", [radio] { return radio->text(); });
        connect(radio, &QRadioButton::toggled, this, [this, radio, name](bool on) {
            if (on) log_.write("radio", {{"widget", s(name)}, {"value", s(radio->text())}});
        });
    }

    auto* combo = new QComboBox;
    QStringList items = {"Red", "Green", "Blue", "Yellow", "Purple", "Orange"};
    const auto order = choices_.order(static_cast<int>(items.size()));
    for (int i : order) combo->addItem(items[i]);
    layout->addWidget(combo);
    track(combo, "combo", "combo", [combo] { return combo->currentText(); });
    connect(combo, &QComboBox::currentIndexChanged, this, [this, combo](int index) {
        log_.write("combo",
                   {{"widget", "combo"}, {"value", s(combo->itemText(index))}, {"index", index}});
        schedule_layout_export();
    });
    return box;
}

QWidget* SandboxWindow::build_button_panel() {
    auto* panel = new QWidget;
    auto* layout = new QHBoxLayout(panel);
    layout->setSpacing(choices_.range(6, 20));
    struct Spec {
        const char* name;
        QStringList labels;
    };
    const std::vector<Spec> specs = {{"save", {"Save", "Save changes", "Store", "Keep"}},
                                     {"cancel", {"Cancel", "Discard", "Dismiss"}},
                                     {"ok", {"OK", "Done", "Confirm", "Apply"}},
                                     {"open_dialog", {"Open dialog…", "Details…", "More…"}}};
    for (int i : choices_.order(static_cast<int>(specs.size()))) {
        const Spec& spec = specs[i];
        auto* button = new QPushButton(choices_.pick(spec.labels));
        button->setMinimumWidth(choices_.range(70, 110));
        layout->addWidget(button);
        const QString name = spec.name;
        track(button, name, "button", [button] { return button->text(); });
        connect(button, &QPushButton::clicked, this, [this, name, button] {
            log_.write("clicked", {{"widget", s(name)}});
            set_status("Clicked " + button->text());
            if (name == "save") log_.write("saved", {{"via", "button"}});
            if (name == "open_dialog") open_dialog();
        });
    }
    return panel;
}

QWidget* SandboxWindow::build_list_panel() {
    auto* list = new QListWidget;
    list_ = list;
    const QString prefix = choices_.pick({"Item", "Entry", "Row", "Record"});
    for (int i = 1; i <= 100; ++i) list->addItem(prefix + " " + QString::number(i));
    list->setMinimumHeight(choices_.range(150, 220));
    list->setContextMenuPolicy(Qt::CustomContextMenu);
    track(list, "list", "list", [prefix] { return prefix + "s"; });
    connect(list, &QListWidget::itemDoubleClicked, this, [this, list](QListWidgetItem* item) {
        const int index = list->row(item) + 1;
        log_.write("opened", {{"widget", "list"}, {"item", index}, {"label", s(item->text())}});
        set_status("Opened " + item->text());
    });
    connect(list, &QListWidget::currentRowChanged, this, [this](int row) {
        if (row >= 0) log_.write("selected", {{"widget", "list"}, {"item", row + 1}});
    });
    connect(list->verticalScrollBar(), &QScrollBar::valueChanged, this, [this](int value) {
        log_.write("scroll", {{"widget", "list"}, {"value", value}});
        schedule_layout_export();
    });
    connect(list, &QListWidget::customContextMenuRequested, this, [this, list](const QPoint& pos) {
        QListWidgetItem* item = list->itemAt(pos);
        const int index = item ? list->row(item) + 1 : 0;
        log_.write("context_menu", {{"widget", "list"}, {"item", index}});
        QMenu menu(this);
        menu.setObjectName("context_menu");
        for (const char* entry : {"Open", "Rename", "Delete"}) menu.addAction(entry);
        menus_.emplace_back(&menu, "List");
        menu.installEventFilter(this);
        QAction* chosen = menu.exec(list->viewport()->mapToGlobal(pos));
        menus_.pop_back();
        if (chosen) {
            log_.write("menu", {{"path", "List/" + s(chosen->text())}, {"item", index}});
            set_status(chosen->text() + " " + (item ? item->text() : QString()));
        }
        schedule_layout_export();
    });
    return list;
}

QWidget* SandboxWindow::build_slider_panel() {
    auto* panel = new QWidget;
    auto* layout = new QVBoxLayout(panel);
    auto* label = new QLabel(choices_.pick({"Volume", "Brightness", "Speed", "Zoom"}));
    auto* slider = new QSlider(Qt::Horizontal);
    slider->setRange(0, 100);
    slider->setValue(choices_.range(0, 30));
    slider->setMinimumWidth(choices_.range(180, 260));
    layout->addWidget(label);
    layout->addWidget(slider);
    track(slider, "slider", "slider", [label] { return label->text(); });
    connect(slider, &QSlider::valueChanged, this, [this](int value) {
        log_.write("slider", {{"widget", "slider"}, {"value", value}});
        schedule_layout_export();
    });

    swatch_colour_ = choices_.colour(kSwatchPalette);
    auto* swatch = new QFrame;
    swatch->setAutoFillBackground(true);
    QPalette pal = swatch->palette();
    pal.setColor(QPalette::Window, swatch_colour_);
    swatch->setPalette(pal);
    swatch->setMinimumSize(choices_.range(60, 120), choices_.range(30, 50));
    layout->addWidget(swatch);
    const QString colour_name = swatch_colour_.name();
    track(swatch, "swatch", "swatch", [colour_name] { return colour_name; });
    return panel;
}

QWidget* SandboxWindow::build_hscroll_panel() {
    auto* area = new QScrollArea;
    hscroll_ = area;
    auto* strip = new QWidget;
    auto* row = new QHBoxLayout(strip);
    for (int i = 1; i <= 24; ++i) {
        auto* tile = new QLabel(QString("Tile %1").arg(i));
        tile->setFrameShape(QFrame::Box);
        tile->setAlignment(Qt::AlignCenter);
        tile->setMinimumSize(80, 40);
        row->addWidget(tile);
    }
    area->setWidget(strip);
    area->setWidgetResizable(false);
    area->setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    area->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOn);
    area->setMinimumHeight(strip->sizeHint().height() +
                           area->horizontalScrollBar()->sizeHint().height() + 6);
    track(area, "hscroll", "scroll_area", [] { return QString("Tiles"); });
    connect(area->horizontalScrollBar(), &QScrollBar::valueChanged, this, [this](int value) {
        log_.write("scroll",
                   {{"widget", "hscroll"}, {"value", value}, {"orientation", "horizontal"}});
        schedule_layout_export();
    });
    return area;
}

QWidget* SandboxWindow::build_tab_panel() {
    auto* tabs = new QTabWidget;
    tabs_ = tabs;
    const QString first = choices_.pick({"General", "Basic", "Main"});
    const QString second = choices_.pick({"Advanced", "Extra", "More"});
    auto* general = new QWidget;
    auto* general_layout = new QVBoxLayout(general);
    general_layout->addWidget(new QLabel("Settings for " + first));
    auto* advanced = new QWidget;
    auto* advanced_layout = new QVBoxLayout(advanced);
    auto* advanced_check =
        new QCheckBox(choices_.pick({"Verbose logging", "Expert mode", "Beta features"}));
    advanced_layout->addWidget(advanced_check, 0, Qt::AlignLeft);
    track(advanced_check, "advanced_option", "checkbox",
          [advanced_check] { return advanced_check->text(); });
    connect(advanced_check, &QCheckBox::toggled, this, [this](bool on) {
        log_.write("checked", {{"widget", "advanced_option"}, {"value", on}});
    });
    tabs->addTab(general, first);
    tabs->addTab(advanced, second);
    track(tabs, "tabs", "tab_widget", [tabs] { return tabs->tabText(tabs->currentIndex()); });
    connect(tabs, &QTabWidget::currentChanged, this, [this, tabs](int index) {
        log_.write("tab",
                   {{"widget", "tabs"}, {"value", s(tabs->tabText(index))}, {"index", index}});
        schedule_layout_export();
    });
    return tabs;
}

void SandboxWindow::open_dialog() {
    QDialog dialog(this);
    dialog_ = &dialog;
    dialog.setObjectName("dialog");
    dialog.setWindowTitle("Sandbox dialog");
    auto* layout = new QVBoxLayout(&dialog);
    auto* input = new QLineEdit;
    input->setObjectName("dialog_input");
    layout->addWidget(
        new QLabel(choices_.pick({"Enter a code:", "Type a reference:", "Your answer:"})));
    layout->addWidget(input);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
    buttons->button(QDialogButtonBox::Ok)->setObjectName("dialog_ok");
    buttons->button(QDialogButtonBox::Cancel)->setObjectName("dialog_cancel");
    layout->addWidget(buttons);
    connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
    connect(input, &QLineEdit::textChanged, this, [this](const QString& text) {
        log_.write("text", {{"widget", "dialog_input"}, {"value", s(text)}});
    });
    dialog.installEventFilter(this);
    log_.write("dialog", {{"state", "opened"}});
    const int result = dialog.exec();
    dialog_ = nullptr;
    log_.write("dialog", {{"state", result == QDialog::Accepted ? "accepted" : "rejected"},
                          {"value", s(input->text())}});
    schedule_layout_export();
}

void SandboxWindow::closeEvent(QCloseEvent* event) {
    log_.write("closed");
    QMainWindow::closeEvent(event);
}

bool SandboxWindow::eventFilter(QObject* watched, QEvent* event) {
    const auto type = event->type();
    if (type == QEvent::Show || type == QEvent::Hide || type == QEvent::Move ||
        type == QEvent::Resize) {
        if (watched == this || qobject_cast<QMenu*>(watched) || qobject_cast<QDialog*>(watched))
            schedule_layout_export();
    }
    return QMainWindow::eventFilter(watched, event);
}

void SandboxWindow::schedule_layout_export() {
    if (!layout_path_.isEmpty()) layout_timer_.start();
}

nlohmann::json SandboxWindow::layout_json() const {
    nlohmann::json widgets = nlohmann::json::array();
    auto add = [&](const QString& name, const QString& role, const QString& label,
                   const QRect& rect, bool visible,
                   nlohmann::json extra = nlohmann::json::object()) {
        nlohmann::json w = {{"name", s(name)},
                            {"role", s(role)},
                            {"label", s(label)},
                            {"rect", rect_json(rect)},
                            {"visible", visible}};
        for (auto it = extra.begin(); it != extra.end(); ++it) w[it.key()] = it.value();
        widgets.push_back(std::move(w));
    };

    // Menu bar titles.
    for (QAction* action : menuBar()->actions()) {
        const QRect r = menuBar()->actionGeometry(action);
        const QRect global(menuBar()->mapToGlobal(r.topLeft()), r.size());
        const QString title = action->text().remove('&');
        add("menu_" + title.toLower(), "menu", title, to_screen_pixels(menuBar(), global),
            menuBar()->isVisible());
    }
    for (const Entry& e : entries_) {
        if (!e.widget) continue;
        nlohmann::json extra = nlohmann::json::object();
        if (e.name == "swatch") extra["color"] = s(swatch_colour_.name());
        if (auto* slider = qobject_cast<QSlider*>(e.widget.data())) {
            extra["value"] = slider->value();
            extra["minimum"] = slider->minimum();
            extra["maximum"] = slider->maximum();
        }
        if (auto* check = qobject_cast<QCheckBox*>(e.widget.data()))
            extra["checked"] = check->isChecked();
        if (auto* combo = qobject_cast<QComboBox*>(e.widget.data())) {
            nlohmann::json items = nlohmann::json::array();
            for (int i = 0; i < combo->count(); ++i) items.push_back(s(combo->itemText(i)));
            extra["items"] = items;
        }
        add(e.name, e.role, e.label(), to_screen_pixels(e.widget, global_rect(e.widget)),
            really_visible(e.widget), extra);
    }
    // Tabs of the tab bar.
    if (tabs_) {
        QTabBar* bar = tabs_->tabBar();
        for (int i = 0; i < bar->count(); ++i) {
            const QRect r = bar->tabRect(i);
            add("tab_" + QString::number(i + 1), "tab", bar->tabText(i),
                to_screen_pixels(bar, QRect(bar->mapToGlobal(r.topLeft()), r.size())),
                really_visible(bar), {{"selected", i == bar->currentIndex()}});
        }
    }
    // List items, with whether each is scrolled into view.
    if (list_) {
        const QRect viewport = list_->viewport()->rect();
        for (int i = 0; i < list_->count(); ++i) {
            const QRect r = list_->visualItemRect(list_->item(i));
            const QRect shown = r.intersected(viewport);
            const bool visible = really_visible(list_) && shown.height() >= r.height() / 2;
            add("item_" + QString::number(i + 1), "list_item", list_->item(i)->text(),
                to_screen_pixels(list_,
                                 QRect(list_->viewport()->mapToGlobal(r.topLeft()), r.size())),
                visible, {{"index", i + 1}});
        }
    }
    // Open menus (menu bar drop-downs and the list's context menu).
    for (const auto& [menu, path] : menus_) {
        if (!menu || !menu->isVisible()) continue;
        for (QAction* action : menu->actions()) {
            if (action->isSeparator()) continue;
            const QRect r = menu->actionGeometry(action);
            const QString text = action->text().remove('&');
            add("menu_item:" + path + "/" + text, "menu_item", text,
                to_screen_pixels(menu, QRect(menu->mapToGlobal(r.topLeft()), r.size())), true,
                {{"path", s(path + "/" + text)}});
        }
    }
    // The modal dialog while it is open.
    if (dialog_ && dialog_->isVisible()) {
        add("dialog", "dialog", dialog_->windowTitle(),
            to_screen_pixels(dialog_, global_rect(dialog_)), true);
        for (QWidget* w : dialog_->findChildren<QWidget*>()) {
            if (!w->objectName().startsWith("dialog_")) continue;
            const QString role = qobject_cast<QLineEdit*>(w) ? "text_field" : "button";
            const QString label = qobject_cast<QPushButton*>(w)
                                      ? static_cast<QPushButton*>(w)->text()
                                      : w->objectName();
            add(w->objectName(), role, label, to_screen_pixels(w, global_rect(w)),
                really_visible(w));
        }
    }

    const QScreen* screen = this->screen();
    const QRect frame = to_screen_pixels(this, QRect(mapToGlobal(QPoint(0, 0)), size()));
    nlohmann::json layout = {
        {"window", {{"title", s(windowTitle())}, {"rect", rect_json(frame)}}},
        {"scale", screen ? screen->devicePixelRatio() : 1.0},
        {"randomised", choices_.randomised()},
        {"widgets", widgets},
    };
    return layout;
}

void SandboxWindow::export_layout_now() {
    if (layout_path_.isEmpty()) return;
    // Written whole and renamed into place, so a reader never sees half a file.
    QSaveFile file(layout_path_);
    if (!file.open(QIODevice::WriteOnly)) return;
    const std::string text = layout_json().dump(1);
    file.write(text.data(), static_cast<qint64>(text.size()));
    file.commit();
}

}  // namespace deskpilot::sandbox
