#include "panel/start_form.h"

#include <QApplication>
#include <QComboBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPointer>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <thread>

#include "model/engine/native_vlm.h"
#include "model/remote/remote_vlm.h"
#include "planner/family.h"

namespace deskpilot::panel {

namespace {
template <typename W>
W* named(W* w, const QString& name) {
    w->setObjectName(name);
    w->setAccessibleName(name);
    return w;
}
}  // namespace

StartForm::StartForm(QWidget* parent) : QWidget(parent) {
    auto* form = new QFormLayout(this);
    task_ = named(new QLineEdit, tr("Task"));
    task_->setPlaceholderText(tr("What should the agent do?"));
    endpoint_ = named(new QLineEdit, tr("Endpoint"));
    endpoint_->setPlaceholderText(QStringLiteral("http://127.0.0.1:8000/v1"));
    backend_ = named(new QComboBox, tr("Backend"));
    backend_->addItem(tr("Endpoint (OpenAI-compatible server)"), kBackendEndpoint);
    backend_->addItem(tr("Local model directory (native engine)"), kBackendLocal);
    model_dir_ = named(new QLineEdit, tr("Model directory"));
    model_dir_->setPlaceholderText(tr("folder with config.json, tokenizer.json, *.safetensors"));
    browse_ = named(new QPushButton(tr("Browse…")), tr("Browse model directory"));
    browse_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_B));
    browse_->setToolTip(tr("Choose the local model directory (Ctrl+B)"));
    connect(browse_, &QPushButton::clicked, this, [this] {
        const QString dir =
            QFileDialog::getExistingDirectory(this, tr("Model directory"), model_dir_->text());
        if (!dir.isEmpty()) {
            model_dir_->setText(dir);
            follow_model_family();
        }
    });
    max_pixels_ = named(new QSpinBox, tr("Max pixels"));
    // A smaller screenshot is much faster on a CPU; 65536 is the engine's smallest cap.
    max_pixels_->setRange(0, 64 << 20);
    max_pixels_->setSingleStep(65536);
    max_pixels_->setSpecialValueText(tr("model default"));
    max_pixels_->setToolTip(
        tr("Pixel cap per screenshot for the local model (0: the model's own)"));
    model_ = named(new QLineEdit, tr("Model"));
    key_env_ = named(new QLineEdit, tr("API key variable"));
    key_env_->setPlaceholderText(tr("environment variable holding the key (optional)"));
    display_ = named(new QLineEdit, tr("Display"));
    display_->setText(qEnvironmentVariable("DISPLAY"));
    family_ = named(new QComboBox, tr("Family"));
    for (const auto& f : planner::all_families())
        family_->addItem(QString::fromStdString(std::string(f.name)));
    approval_ = named(new QComboBox, tr("Approval mode"));
    approval_->addItems({QStringLiteral("auto"), QStringLiteral("each"), QStringLiteral("risky")});
    max_steps_ = named(new QSpinBox, tr("Max steps"));
    max_steps_->setRange(1, 1000);
    history_ = named(new QSpinBox, tr("History"));
    history_->setRange(1, 50);
    check_ = named(new QPushButton(tr("Check endpoint")), tr("Check endpoint"));
    check_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_K));
    check_->setToolTip(tr("List the models the server offers (Ctrl+K)"));
    check_result_ = named(new QLabel, tr("Endpoint check result"));
    check_result_->setWordWrap(true);
    connect(check_, &QPushButton::clicked, this, &StartForm::check_endpoint);

    auto label = [](const QString& text, QWidget* buddy) {
        auto* l = new QLabel(text);
        l->setBuddy(buddy);
        return l;
    };
    form->addRow(label(tr("&Task:"), task_), task_);
    form->addRow(label(tr("&Backend:"), backend_), backend_);
    auto* endpoint_row = new QHBoxLayout;
    endpoint_row->addWidget(endpoint_);
    endpoint_row->addWidget(check_);
    form->addRow(label(tr("E&ndpoint:"), endpoint_), endpoint_row);
    form->addRow(label(tr("&Model:"), model_), model_);
    form->addRow(label(tr("API &key variable:"), key_env_), key_env_);
    auto* dir_row = new QHBoxLayout;
    dir_row->addWidget(model_dir_);
    dir_row->addWidget(browse_);
    form->addRow(label(tr("Model f&older:"), model_dir_), dir_row);
    form->addRow(label(tr("Ma&x pixels:"), max_pixels_), max_pixels_);
    form->addRow(label(tr("&Family:"), family_), family_);
    form->addRow(label(tr("Max &steps:"), max_steps_), max_steps_);
    form->addRow(label(tr("&Approval:"), approval_), approval_);
    form->addRow(label(tr("&History:"), history_), history_);
    form->addRow(label(tr("&Display:"), display_), display_);
    form->addRow(check_result_);
    connect(backend_, &QComboBox::currentIndexChanged, this, [this] {
        follow_model_family();
        backend_changed();
    });
    connect(model_dir_, &QLineEdit::editingFinished, this, [this] { follow_model_family(); });
    set_settings({});
}

void StartForm::follow_model_family() {
    // The local model's prompt family is the one its folder speaks (the one its deskpilot.json
    // names, ui-tars-1.5 for a Qwen2.5-VL checkpoint such as UI-TARS-1.5-7B, qwen3-vl otherwise),
    // as `deskpilot run --model-dir` chooses it; the person can still pick another afterwards.
    // A broken deskpilot.json leaves the choice as it was (the person is typing a path).
    if (backend_->currentData().toString() != kBackendLocal) return;
    try {
        family_->setCurrentText(QString::fromStdString(
            model::native_default_family(model_dir_->text().trimmed().toStdString())));
    } catch (const std::exception&) {
    }
}

void StartForm::backend_changed() {
    const bool local = backend_->currentData().toString() == kBackendLocal;
    for (QWidget* w : std::initializer_list<QWidget*>{endpoint_, model_, key_env_, check_})
        w->setEnabled(!local);
    model_dir_->setEnabled(local);
    browse_->setEnabled(local);
    max_pixels_->setEnabled(local);
}

RunSettings StartForm::settings() const {
    return {task_->text(),          endpoint_->text(),
            model_->text(),         key_env_->text(),
            family_->currentText(), approval_->currentText(),
            display_->text(),       max_steps_->value(),
            history_->value(),      backend_->currentData().toString(),
            model_dir_->text(),     max_pixels_->value()};
}

void StartForm::set_settings(const RunSettings& s) {
    task_->setText(s.task);
    endpoint_->setText(s.endpoint);
    model_->setText(s.model);
    key_env_->setText(s.api_key_env);
    model_dir_->setText(s.model_dir);
    max_pixels_->setValue(s.max_pixels);
    {
        // Set before the family, which the backend switch would otherwise override.
        const QSignalBlocker block(backend_);
        const int i = backend_->findData(s.backend);
        backend_->setCurrentIndex(i < 0 ? 0 : i);
    }
    backend_changed();
    if (!s.family.isEmpty()) family_->setCurrentText(s.family);
    if (!s.approval.isEmpty()) approval_->setCurrentText(s.approval);
    if (!s.display.isEmpty()) display_->setText(s.display);
    max_steps_->setValue(s.max_steps);
    history_->setValue(s.history);
}

void StartForm::load(QSettings& store) {
    store.beginGroup(QStringLiteral("run"));
    RunSettings s;
    s.task = store.value(QStringLiteral("task")).toString();
    s.endpoint = store.value(QStringLiteral("endpoint")).toString();
    s.model = store.value(QStringLiteral("model")).toString();
    s.api_key_env = store.value(QStringLiteral("api_key_env")).toString();
    s.backend = store.value(QStringLiteral("backend"), kBackendEndpoint).toString();
    s.model_dir = store.value(QStringLiteral("model_dir")).toString();
    s.max_pixels = store.value(QStringLiteral("max_pixels"), 0).toInt();
    s.family = store.value(QStringLiteral("family"), QStringLiteral("ui-tars-1.5")).toString();
    s.approval = store.value(QStringLiteral("approval"), QStringLiteral("each")).toString();
    s.display = store.value(QStringLiteral("display")).toString();
    s.max_steps = store.value(QStringLiteral("max_steps"), 50).toInt();
    s.history = store.value(QStringLiteral("history"), 5).toInt();
    store.endGroup();
    set_settings(s);
}

void StartForm::save(QSettings& store) const {
    const RunSettings s = settings();
    store.beginGroup(QStringLiteral("run"));
    store.setValue(QStringLiteral("task"), s.task);
    store.setValue(QStringLiteral("endpoint"), s.endpoint);
    store.setValue(QStringLiteral("model"), s.model);
    store.setValue(QStringLiteral("api_key_env"),
                   s.api_key_env);  // the variable's name, never the key
    store.setValue(QStringLiteral("backend"), s.backend);
    store.setValue(QStringLiteral("model_dir"), s.model_dir);
    store.setValue(QStringLiteral("max_pixels"), s.max_pixels);
    store.setValue(QStringLiteral("family"), s.family);
    store.setValue(QStringLiteral("approval"), s.approval);
    store.setValue(QStringLiteral("display"), s.display);
    store.setValue(QStringLiteral("max_steps"), s.max_steps);
    store.setValue(QStringLiteral("history"), s.history);
    store.endGroup();
}

void StartForm::check_endpoint() {
    model::RemoteConfig config;
    config.endpoint = endpoint_->text().toStdString();
    config.model = model_->text().toStdString();
    config.api_key_env = key_env_->text().toStdString();
    config.connect_timeout = std::chrono::milliseconds(3000);
    config.overall_timeout = std::chrono::milliseconds(5000);
    check_->setEnabled(false);
    check_result_->setText(tr("Checking %1 …").arg(endpoint_->text()));
    // The request runs on its own thread so the panel never freezes on a slow server; the
    // answer comes back to the GUI thread through the event queue.
    QPointer<StartForm> self(this);
    std::thread([self, config] {
        QString result;
        try {
            const model::RemoteVlm vlm(config);
            QStringList names;
            for (const auto& m : vlm.list_models()) names << QString::fromStdString(m);
            result = tr("The server offers: %1")
                         .arg(names.isEmpty() ? tr("(no models listed)")
                                              : names.join(QStringLiteral(", ")));
        } catch (const std::exception& e) {
            result = tr("Endpoint check failed: %1").arg(QString::fromUtf8(e.what()));
        }
        QMetaObject::invokeMethod(qApp, [self, result] {
            if (!self) return;
            self->check_->setEnabled(true);
            self->check_result_->setText(result);
            emit self->checked(result);
        });
    }).detach();
}

}  // namespace deskpilot::panel
