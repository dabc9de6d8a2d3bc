// panel::ScreenshotView: the latest screenshot scaled to fit (Ctrl+wheel or +/- zoom; pan with
// the middle button, the left button when zoomed and not editing, or the arrow keys), with an
// action drawn on it: a click marker, a drag arrow, a scroll direction, typed text. In edit mode
// the marker (and a drag's end) can be dragged with the left button; the action is updated in
// screen pixels and actionEdited() is emitted.
#pragma once

#include <QImage>
#include <QWidget>
#include <optional>

#include "planner/action.h"

namespace deskpilot::panel {

class ScreenshotView : public QWidget {
    Q_OBJECT
  public:
    explicit ScreenshotView(QWidget* parent = nullptr);

    // `origin` is the screen position of the image's top-left pixel.
    void set_image(const QImage& image, QPoint origin = {});
    const QImage& image() const { return image_; }
    void set_action(std::optional<planner::Action> action);
    const std::optional<planner::Action>& action() const { return action_; }
    void set_editable(bool editable);
    bool editable() const { return editable_; }
    void set_zoom(double zoom);  // 1 = fit
    double zoom() const { return zoom_; }
    // How far the zoomed picture is moved from centred, in widget pixels (kept so that the
    // picture always fills the view along an axis where it is larger than the view).
    QPointF pan() const { return clamped_pan(pan_); }

    // Widget ↔ screen pixel mapping of the current layout (what tests and painting use).
    QPointF to_widget(vision::Point screen) const;
    vision::Point to_screen(QPointF widget) const;

    QSize sizeHint() const override { return {640, 400}; }

  signals:
    void actionEdited(const deskpilot::planner::Action& action);

  protected:
    void paintEvent(QPaintEvent*) override;
    void mousePressEvent(QMouseEvent*) override;
    void mouseMoveEvent(QMouseEvent*) override;
    void mouseReleaseEvent(QMouseEvent*) override;
    void wheelEvent(QWheelEvent*) override;
    void keyPressEvent(QKeyEvent*) override;

  private:
    QRectF image_rect() const;
    QSizeF scaled_size() const;
    QPointF clamped_pan(QPointF pan) const;
    enum class Handle { none, start, end };

    QImage image_;
    QPoint origin_;
    std::optional<planner::Action> action_;
    bool editable_ = false;
    double zoom_ = 1.0;
    QPointF pan_;
    Handle dragging_ = Handle::none;
    std::optional<QPointF> pan_start_;
};

}  // namespace deskpilot::panel
