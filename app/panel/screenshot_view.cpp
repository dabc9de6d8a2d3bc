#include "panel/screenshot_view.h"

#include <QKeyEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <QWheelEvent>
#include <algorithm>
#include <cmath>

namespace deskpilot::panel {

namespace {
constexpr double kMarkerRadius = 10.0;  // logical pixels: Qt scales them on HiDPI screens
constexpr double kGrabRadius = 20.0;

void draw_arrow(QPainter& p, QPointF from, QPointF to) {
    p.drawLine(from, to);
    const double angle = std::atan2(to.y() - from.y(), to.x() - from.x());
    const double len = 12;
    QPainterPath head;
    head.moveTo(to);
    head.lineTo(to - QPointF(len * std::cos(angle - 0.4), len * std::sin(angle - 0.4)));
    head.lineTo(to - QPointF(len * std::cos(angle + 0.4), len * std::sin(angle + 0.4)));
    head.closeSubpath();
    p.fillPath(head, p.pen().color());
}
}  // namespace

ScreenshotView::ScreenshotView(QWidget* parent) : QWidget(parent) {
    setFocusPolicy(Qt::StrongFocus);
    setMinimumSize(200, 120);
    setAccessibleName(tr("Screenshot"));
    setAccessibleDescription(
        tr("The latest screenshot with the pending or last action drawn on it"));
}

void ScreenshotView::set_image(const QImage& image, QPoint origin) {
    image_ = image;
    origin_ = origin;
    update();
}

void ScreenshotView::set_action(std::optional<planner::Action> action) {
    action_ = std::move(action);
    dragging_ = Handle::none;
    update();
}

void ScreenshotView::set_editable(bool editable) {
    editable_ = editable;
    setCursor(editable ? Qt::CrossCursor : Qt::ArrowCursor);
    update();
}

void ScreenshotView::set_zoom(double zoom) {
    zoom_ = std::clamp(zoom, 1.0, 8.0);
    pan_ = clamped_pan(pan_);
    update();
}

QSizeF ScreenshotView::scaled_size() const {
    if (image_.isNull()) return {};
    const double fit =
        std::min(width() / double(image_.width()), height() / double(image_.height()));
    const double scale = fit * zoom_;
    return {image_.width() * scale, image_.height() * scale};
}

QPointF ScreenshotView::clamped_pan(QPointF pan) const {
    // The picture moves until its edge meets the view's edge, not beyond: panning never
    // leaves an empty view, and a picture smaller than the view stays centred.
    const QSizeF size = scaled_size();
    const double mx = std::max(0.0, (size.width() - width()) / 2);
    const double my = std::max(0.0, (size.height() - height()) / 2);
    return {std::clamp(pan.x(), -mx, mx), std::clamp(pan.y(), -my, my)};
}

QRectF ScreenshotView::image_rect() const {
    if (image_.isNull()) return {};
    const QSizeF size = scaled_size();
    const QPointF pan = clamped_pan(pan_);
    const QPointF top_left((width() - size.width()) / 2 + pan.x(),
                           (height() - size.height()) / 2 + pan.y());
    return {top_left, size};
}

QPointF ScreenshotView::to_widget(vision::Point screen) const {
    const QRectF r = image_rect();
    if (r.isEmpty()) return {};
    const double scale = r.width() / image_.width();
    return r.topLeft() +
           QPointF((screen.x - origin_.x() + 0.5) * scale, (screen.y - origin_.y() + 0.5) * scale);
}

vision::Point ScreenshotView::to_screen(QPointF widget) const {
    const QRectF r = image_rect();
    if (r.isEmpty()) return {};
    const double scale = r.width() / image_.width();
    const QPointF p = (widget - r.topLeft()) / scale;
    const int x = std::clamp(static_cast<int>(std::floor(p.x())), 0, image_.width() - 1);
    const int y = std::clamp(static_cast<int>(std::floor(p.y())), 0, image_.height() - 1);
    return {x + origin_.x(), y + origin_.y()};
}

void ScreenshotView::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.fillRect(rect(), palette().window());
    if (image_.isNull()) {
        p.drawText(rect(), Qt::AlignCenter, tr("No screenshot yet"));
        return;
    }
    p.setRenderHint(QPainter::SmoothPixmapTransform);
    p.setRenderHint(QPainter::Antialiasing);
    p.drawImage(image_rect(), image_);
    if (!action_) return;
    const QColor color = editable_ ? QColor(255, 140, 0) : QColor(230, 30, 30);
    p.setPen(QPen(color, 3));
    const auto& a = *action_;
    if (a.point) {
        const QPointF c = to_widget(*a.point);
        p.drawEllipse(c, kMarkerRadius, kMarkerRadius);
        p.drawLine(c - QPointF(kMarkerRadius * 1.6, 0), c + QPointF(kMarkerRadius * 1.6, 0));
        p.drawLine(c - QPointF(0, kMarkerRadius * 1.6), c + QPointF(0, kMarkerRadius * 1.6));
        if (a.end) draw_arrow(p, c, to_widget(*a.end));
        if (!a.direction.empty()) {
            const double d = 40;
            QPointF delta = a.direction == "up"     ? QPointF(0, -d)
                            : a.direction == "down" ? QPointF(0, d)
                            : a.direction == "left" ? QPointF(-d, 0)
                                                    : QPointF(d, 0);
            draw_arrow(p, c, c + delta);
        }
    }
    QString label = QString::fromUtf8(planner::to_string(a.type));
    if (!a.text.empty())
        label += QStringLiteral(": ") +
                 QString::fromStdString(a.text).replace('\n', QStringLiteral("⏎"));
    if (!a.keys.empty()) {
        QStringList keys;
        for (const auto& k : a.keys) keys << QString::fromStdString(k);
        label += QStringLiteral(": ") + keys.join('+');
    }
    const QPointF at = a.point ? to_widget(*a.point) + QPointF(kMarkerRadius * 2, -kMarkerRadius)
                               : QPointF(12, 24);
    QFont f = font();
    f.setBold(true);
    p.setFont(f);
    const QRectF box =
        QRectF(p.fontMetrics().boundingRect(label)).adjusted(-4, -2, 4, 2).translated(at);
    p.fillRect(box, QColor(0, 0, 0, 170));
    p.setPen(Qt::white);
    p.drawText(box, Qt::AlignCenter, label);
}

void ScreenshotView::mousePressEvent(QMouseEvent* event) {
    if (event->button() == Qt::MiddleButton ||
        (event->button() == Qt::LeftButton && !editable_ && zoom_ > 1.0)) {
        pan_start_ = event->position() - pan_;
        return;
    }
    if (!editable_ || !action_ || event->button() != Qt::LeftButton) return;
    auto near = [&](const std::optional<vision::Point>& p) {
        return p && QLineF(to_widget(*p), event->position()).length() <= kGrabRadius;
    };
    if (near(action_->end))
        dragging_ = Handle::end;
    else if (near(action_->point))
        dragging_ = Handle::start;
    else if (action_->point) {
        // A click anywhere else moves the marker there: the quickest correction.
        dragging_ = Handle::start;
        mouseMoveEvent(event);
    }
}

void ScreenshotView::mouseMoveEvent(QMouseEvent* event) {
    if (pan_start_) {
        pan_ = clamped_pan(event->position() - *pan_start_);
        update();
        return;
    }
    if (dragging_ == Handle::none || !action_) return;
    const vision::Point p = to_screen(event->position());
    if (dragging_ == Handle::start)
        action_->point = p;
    else
        action_->end = p;
    update();
    emit actionEdited(*action_);
}

void ScreenshotView::mouseReleaseEvent(QMouseEvent* event) {
    if (dragging_ != Handle::none) mouseMoveEvent(event);
    dragging_ = Handle::none;
    pan_start_.reset();
}

void ScreenshotView::wheelEvent(QWheelEvent* event) {
    if (!(event->modifiers() & Qt::ControlModifier)) return QWidget::wheelEvent(event);
    set_zoom(zoom_ * (event->angleDelta().y() > 0 ? 1.25 : 0.8));
}

void ScreenshotView::keyPressEvent(QKeyEvent* event) {
    if (event->key() == Qt::Key_Plus || event->key() == Qt::Key_Equal)
        set_zoom(zoom_ * 1.25);
    else if (event->key() == Qt::Key_Minus)
        set_zoom(zoom_ * 0.8);
    else if (event->key() == Qt::Key_0)
        set_zoom(1.0);
    else if (zoom_ > 1.0 && (event->key() == Qt::Key_Left || event->key() == Qt::Key_Right ||
                             event->key() == Qt::Key_Up || event->key() == Qt::Key_Down)) {
        // The arrow shows the part of the picture in that direction (the picture moves back).
        const double dx = width() / 8.0, dy = height() / 8.0;
        const QPointF step = event->key() == Qt::Key_Left    ? QPointF(dx, 0)
                             : event->key() == Qt::Key_Right ? QPointF(-dx, 0)
                             : event->key() == Qt::Key_Up    ? QPointF(0, dy)
                                                             : QPointF(0, -dy);
        pan_ = clamped_pan(pan_ + step);
        update();
    } else
        QWidget::keyPressEvent(event);
}

}  // namespace deskpilot::panel
