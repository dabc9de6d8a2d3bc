#include "vision/x11_screen_source.h"

#include <sys/ipc.h>
#include <sys/shm.h>

#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <X11/extensions/XShm.h>
#include <X11/extensions/Xfixes.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "vision/x11_monitors.h"

namespace deskpilot::vision {

namespace {

// Xlib's default error handler exits the process. We install one that records the error so
// that a refused MIT-SHM attach (e.g. on a remote display) becomes a fallback, not an exit.
std::mutex g_error_mutex;
int g_last_error = 0;

int record_x_error(Display*, XErrorEvent* event) {
    g_last_error = event->error_code;
    return 0;
}

struct ErrorTrap {
    std::lock_guard<std::mutex> lock{g_error_mutex};
    XErrorHandler previous;
    Display* display;
    explicit ErrorTrap(Display* d) : previous(XSetErrorHandler(record_x_error)), display(d) {
        g_last_error = 0;
    }
    int sync_and_get() {
        XSync(display, False);
        return g_last_error;
    }
    ~ErrorTrap() { XSetErrorHandler(previous); }
};

// Desktops announce their scale through the Xft.dpi resource (96 dpi = scale 1).
double read_device_pixel_ratio(Display* display) {
    const char* resources = XResourceManagerString(display);
    if (!resources) return 1.0;
    const char* at = std::strstr(resources, "Xft.dpi:");
    if (!at) return 1.0;
    const double dpi = std::strtod(at + 8, nullptr);
    return dpi >= 48 && dpi <= 960 ? dpi / 96.0 : 1.0;
}

}  // namespace

struct X11ScreenSource::Impl {
    std::string name;
    Display* display = nullptr;
    Window root = 0;
    Method method = Method::automatic;
    bool fallback_logged = false;
    bool include_cursor = false;
    double dpr = 1.0;
    int xfixes = -1;  // -1 unknown, 0 absent, 1 present

    // MIT-SHM image reused between captures of the same size.
    XImage* shm_image = nullptr;
    XShmSegmentInfo shm_info{};
    int shm_width = 0;
    int shm_height = 0;

    void release_shm() {
        if (!shm_image) return;
        XShmDetach(display, &shm_info);
        XDestroyImage(shm_image);  // frees the XImage struct; data belongs to the segment
        shmdt(shm_info.shmaddr);
        shm_image = nullptr;
    }

    bool ensure_shm(int width, int height) {
        if (shm_image && shm_width == width && shm_height == height) return true;
        release_shm();
        const int screen = DefaultScreen(display);
        XImage* image =
            XShmCreateImage(display, DefaultVisual(display, screen), DefaultDepth(display, screen),
                            ZPixmap, nullptr, &shm_info, width, height);
        if (!image) return false;
        shm_info.shmid = shmget(IPC_PRIVATE, static_cast<size_t>(image->bytes_per_line) * height,
                                IPC_CREAT | 0600);
        if (shm_info.shmid < 0) {
            XDestroyImage(image);
            return false;
        }
        shm_info.shmaddr = image->data = static_cast<char*>(shmat(shm_info.shmid, nullptr, 0));
        shm_info.readOnly = False;
        int error = 0;
        {
            ErrorTrap trap(display);
            XShmAttach(display, &shm_info);
            error = trap.sync_and_get();
        }
        // Marked for removal now: the kernel frees it once both sides detach, even if we crash.
        shmctl(shm_info.shmid, IPC_RMID, nullptr);
        if (error != 0) {
            shmdt(shm_info.shmaddr);
            image->data = nullptr;
            XDestroyImage(image);
            return false;
        }
        shm_image = image;
        shm_width = width;
        shm_height = height;
        return true;
    }

    void fall_back(const char* why) {
        method = Method::get_image;
        if (!fallback_logged) {
            std::fprintf(stderr,
                         "deskpilot: MIT-SHM capture unavailable on %s (%s); using XGetImage\n",
                         name.c_str(), why);
            fallback_logged = true;
        }
    }

    Size root_size() {
        Window root_return;
        int x, y;
        unsigned width, height, border, depth;
        if (!XGetGeometry(display, root, &root_return, &x, &y, &width, &height, &border, &depth))
            throw DisplayError("X display " + name + ": cannot read the root window's geometry");
        return {static_cast<int>(width), static_cast<int>(height)};
    }

    Frame to_frame(const XImage* image, const Rect& rect) const {
        if (image->bits_per_pixel != 32)
            throw DisplayError("X display " + name + ": unsupported pixel format (" +
                               std::to_string(image->bits_per_pixel) + " bits per pixel; need 32)");
        Frame frame;
        frame.width = rect.width;
        frame.height = rect.height;
        frame.stride = static_cast<std::size_t>(rect.width) * 4;
        frame.origin = {rect.x, rect.y};
        frame.timestamp = std::chrono::steady_clock::now();
        frame.device_pixel_ratio = dpr;
        auto pixels = std::make_shared<std::vector<std::uint8_t>>(frame.stride * rect.height);
        for (int y = 0; y < rect.height; ++y) {
            const auto* src = reinterpret_cast<const std::uint8_t*>(image->data) +
                              static_cast<std::size_t>(y) * image->bytes_per_line;
            std::uint8_t* dst = pixels->data() + y * frame.stride;
            // Depth-24 visuals leave the fourth byte undefined; make it opaque while copying,
            // a word at a time so the compiler vectorises it (little-endian: A is the top byte).
            for (int x = 0; x < rect.width; ++x) {
                std::uint32_t px;
                std::memcpy(&px, src + 4 * x, 4);
                px |= 0xff000000u;
                std::memcpy(dst + 4 * x, &px, 4);
            }
        }
        frame.pixels = std::move(pixels);
        return frame;
    }

    // Blends the pointer (premultiplied ARGB from XFixes) over the frame's pixels.
    void composite_cursor(Frame& frame) {
        if (xfixes < 0) {
            int event_base, error_base;
            xfixes = XFixesQueryExtension(display, &event_base, &error_base) ? 1 : 0;
            if (!xfixes)
                std::fprintf(stderr, "deskpilot: %s lacks XFixes; the pointer is not drawn\n",
                             name.c_str());
        }
        if (!xfixes) return;
        XFixesCursorImage* cursor = XFixesGetCursorImage(display);
        if (!cursor) return;
        auto pixels = std::make_shared<std::vector<std::uint8_t>>(*frame.pixels);
        const int left = cursor->x - cursor->xhot - frame.origin.x,
                  top = cursor->y - cursor->yhot - frame.origin.y;
        for (int cy = 0; cy < cursor->height; ++cy) {
            const int y = top + cy;
            if (y < 0 || y >= frame.height) continue;
            for (int cx = 0; cx < cursor->width; ++cx) {
                const int x = left + cx;
                if (x < 0 || x >= frame.width) continue;
                // Xlib hands each ARGB pixel in an unsigned long, whatever its width.
                const auto argb =
                    static_cast<std::uint32_t>(cursor->pixels[cy * cursor->width + cx]);
                const unsigned a = argb >> 24;
                if (a == 0) continue;
                std::uint8_t* p =
                    pixels->data() + static_cast<std::size_t>(y) * frame.stride + 4 * x;
                const unsigned src[3] = {argb & 0xff, (argb >> 8) & 0xff,
                                         (argb >> 16) & 0xff};  // B, G, R
                for (int c = 0; c < 3; ++c)
                    p[c] =
                        static_cast<std::uint8_t>(std::min(255u, src[c] + p[c] * (255 - a) / 255));
            }
        }
        XFree(cursor);
        frame.pixels = std::move(pixels);
    }

    Frame grab(Rect rect) {
        Frame frame = grab_pixels(rect);
        if (include_cursor) composite_cursor(frame);
        return frame;
    }

    Frame grab_pixels(Rect rect) {
        const Size screen = root_size();
        const int x1 = std::max(rect.x, 0), y1 = std::max(rect.y, 0);
        const int x2 = std::min(rect.x + rect.width, screen.width),
                  y2 = std::min(rect.y + rect.height, screen.height);
        if (x2 <= x1 || y2 <= y1)
            throw DisplayError("X display " + name + ": capture rectangle lies outside the " +
                               std::to_string(screen.width) + "x" + std::to_string(screen.height) +
                               " screen");
        rect = {x1, y1, x2 - x1, y2 - y1};

        if (method != Method::get_image) {
            if (ensure_shm(rect.width, rect.height)) {
                ErrorTrap trap(display);
                const bool ok = XShmGetImage(display, root, shm_image, rect.x, rect.y, AllPlanes);
                if (ok && trap.sync_and_get() == 0) {
                    method = Method::shm;
                    return to_frame(shm_image, rect);
                }
                release_shm();
                fall_back("XShmGetImage failed");
            } else {
                fall_back("cannot attach a shared-memory segment");
            }
        }
        XImage* image = nullptr;
        {
            ErrorTrap trap(display);
            image = XGetImage(display, root, rect.x, rect.y, rect.width, rect.height, AllPlanes,
                              ZPixmap);
            if (trap.sync_and_get() != 0 && image) {
                XDestroyImage(image);
                image = nullptr;
            }
        }
        if (!image) throw DisplayError("X display " + name + ": XGetImage failed");
        Frame frame;
        try {
            frame = to_frame(image, rect);
        } catch (...) {
            XDestroyImage(image);
            throw;
        }
        XDestroyImage(image);
        return frame;
    }
};

X11ScreenSource::X11ScreenSource(const std::string& display_name, Method method)
    : impl_(std::make_unique<Impl>()) {
    const char* env = std::getenv("DISPLAY");
    impl_->name = !display_name.empty() ? display_name : (env && *env ? env : "");
    if (impl_->name.empty())
        throw DisplayError("no X display: $DISPLAY is not set and no --display was given");
    impl_->display = XOpenDisplay(impl_->name.c_str());
    if (!impl_->display)
        throw DisplayError("cannot open X display " + impl_->name +
                           " (is an X server running there, and may we connect?)");
    impl_->root = DefaultRootWindow(impl_->display);
    impl_->dpr = read_device_pixel_ratio(impl_->display);
    impl_->method = method;
    if (method != Method::get_image && !XShmQueryExtension(impl_->display)) {
        if (method == Method::shm) {
            XCloseDisplay(impl_->display);
            throw DisplayError("X display " + impl_->name +
                               " does not offer the MIT-SHM extension");
        }
        impl_->fall_back("the server lacks the MIT-SHM extension");
    }
}

X11ScreenSource::~X11ScreenSource() {
    if (impl_->display) {
        impl_->release_shm();
        XCloseDisplay(impl_->display);
    }
}

Frame X11ScreenSource::capture() {
    const Size size = impl_->root_size();
    return impl_->grab({0, 0, size.width, size.height});
}

Size X11ScreenSource::screen_size() {
    return impl_->root_size();
}

Frame X11ScreenSource::capture_rect(const Rect& rect) {
    return impl_->grab(rect);
}

void X11ScreenSource::set_include_cursor(bool include) {
    impl_->include_cursor = include;
}

bool X11ScreenSource::include_cursor() const {
    return impl_->include_cursor;
}

double X11ScreenSource::device_pixel_ratio() {
    impl_->dpr = read_device_pixel_ratio(impl_->display);
    return impl_->dpr;
}

std::vector<Monitor> X11ScreenSource::monitors() {
    return query_x11_monitors(impl_->display);
}

Frame X11ScreenSource::capture_monitor(int index) {
    const auto list = monitors();
    if (index < 0 || index >= static_cast<int>(list.size()))
        throw DisplayError("X display " + impl_->name + " has no monitor " + std::to_string(index) +
                           " (it has " + std::to_string(list.size()) + ": 0.." +
                           std::to_string(list.size() - 1) + ")");
    Frame frame = impl_->grab(list[index].rect);
    frame.monitor = index;
    return frame;
}

X11ScreenSource::Method X11ScreenSource::method() const {
    return impl_->method;
}

const std::string& X11ScreenSource::display_name() const {
    return impl_->name;
}

}  // namespace deskpilot::vision
