#include "agent/report.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "vision/base64.h"

namespace deskpilot::agent {

namespace {

std::string escape(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string fmt_ms(double ms) {
    char buf[32];
    std::snprintf(buf, sizeof buf, ms >= 100 ? "%.0f" : "%.1f", ms);
    return buf;
}

struct Png {
    std::vector<std::uint8_t> bytes;
    int width = 0;
    int height = 0;
};

// Reads a PNG's bytes and its size from the IHDR chunk (no decoding needed).
std::optional<Png> read_png(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    Png png;
    png.bytes.assign(std::istreambuf_iterator<char>(in), {});
    static const std::uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    if (png.bytes.size() < 24 || !std::equal(kSignature, kSignature + 8, png.bytes.begin()))
        return std::nullopt;
    auto be32 = [&](std::size_t at) {
        return static_cast<int>((png.bytes[at] << 24) | (png.bytes[at + 1] << 16) |
                                (png.bytes[at + 2] << 8) | png.bytes[at + 3]);
    };
    png.width = be32(16);
    png.height = be32(20);
    return png;
}

// SVG shapes for one action, in screen pixels. `unit` scales strokes to the screenshot size.
std::string overlay(const nlohmann::json& action, double unit) {
    const std::string type = action.value("type", "");
    const bool has_point = action.contains("x") && action.contains("y");
    std::ostringstream svg;
    const double r = 14 * unit, stroke = 3 * unit;
    if (has_point) {
        const double x = action["x"].get<double>(), y = action["y"].get<double>();
        svg << "<circle cx='" << x << "' cy='" << y << "' r='" << r << "' class='mark'/>";
        svg << "<circle cx='" << x << "' cy='" << y << "' r='" << stroke << "' class='dot'/>";
        if (type == "left_double")
            svg << "<circle cx='" << x << "' cy='" << y << "' r='" << r * 1.6 << "' class='mark'/>";
        if (type == "drag" && action.contains("x2")) {
            svg << "<line x1='" << x << "' y1='" << y << "' x2='" << action["x2"].get<double>()
                << "' y2='" << action["y2"].get<double>()
                << "' class='arrow' marker-end='url(#head)'/>";
        }
        if (type == "scroll") {
            const std::string d = action.value("direction", "down");
            const double len = 60 * unit;
            const double dx = d == "left" ? -len : d == "right" ? len : 0;
            const double dy = d == "up" ? -len : d == "down" ? len : 0;
            svg << "<line x1='" << x << "' y1='" << y << "' x2='" << x + dx << "' y2='" << y + dy
                << "' class='arrow' marker-end='url(#head)'/>";
        }
        std::string label = type == "right_single"  ? "right click"
                            : type == "left_double" ? "double click"
                                                    : type;
        svg << "<text x='" << x + r * 1.3 << "' y='" << y - r * 1.3 << "' font-size='" << 16 * unit
            << "'>" << escape(label) << "</text>";
    }
    return svg.str();
}

std::string action_summary(const nlohmann::json& action) {
    std::string s = action.value("type", "?");
    if (action.contains("x"))
        s += " (" + std::to_string(action["x"].get<int>()) + "," +
             std::to_string(action["y"].get<int>()) + ")";
    if (action.contains("x2"))
        s += " → (" + std::to_string(action["x2"].get<int>()) + "," +
             std::to_string(action["y2"].get<int>()) + ")";
    if (action.contains("keys")) {
        s += " ";
        for (const auto& k : action["keys"]) s += k.get<std::string>() + "+";
        s.pop_back();
    }
    if (action.contains("text") && !action["text"].get<std::string>().empty())
        s += " “" + action["text"].get<std::string>() + "”";
    if (action.contains("direction")) s += " " + action["direction"].get<std::string>();
    return s;
}

const char* kStyle = R"(
body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:18px 28px}header h1{margin:0 0 6px;font-size:20px}
.meta{display:flex;flex-wrap:wrap;gap:6px 22px;font-size:13px;opacity:.9}
.status{display:inline-block;padding:1px 8px;border-radius:9px;background:#4a5568}
.status.finished{background:#2f855a}.status.error,.status.stopped{background:#c53030}
main{padding:20px 28px;max-width:1280px}table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #e2e5ea;padding:6px 8px;text-align:left;vertical-align:top}th{background:#eceef2}
section.step{background:#fff;margin:22px 0;padding:16px;border-radius:8px;box-shadow:0 1px 3px #0002}
section.step h2{margin:0 0 10px;font-size:16px}svg{width:100%;height:auto;border:1px solid #d0d4da;background:#fff}
.mark{fill:none;stroke:#e53e3e}.dot{fill:#e53e3e}.arrow{stroke:#e53e3e}
text{fill:#e53e3e;font-weight:600;paint-order:stroke;stroke:#fff;stroke-width:3px}
pre{background:#f0f2f5;padding:8px;overflow:auto;white-space:pre-wrap;word-break:break-word}
.warn{color:#b7791f}.missing{padding:30px;background:#fff5f5;color:#c53030}
)";

}  // namespace

std::string render_report(const LoadedSession& session) {
    const Manifest& m = session.manifest;
    std::ostringstream html;
    html << "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
         << "<meta name='viewport' content='width=device-width,initial-scale=1'>"
         << "<title>Deskpilot report: " << escape(m.task) << "</title><style>" << kStyle
         << "</style></head><body>\n";
    html << "<header><h1>" << escape(m.task.empty() ? "(no task)" : m.task)
         << "</h1><div class='meta'>"
         << "<span>status <span class='status " << escape(m.status) << "'>" << escape(m.status)
         << "</span></span>"
         << "<span>model " << escape(m.model)
         << (m.family.empty() ? "" : " (" + escape(m.family) + ")") << "</span>";
    if (!m.endpoint_host.empty()) html << "<span>endpoint " << escape(m.endpoint_host) << "</span>";
    html << "<span>screen " << m.screen.width << "×" << m.screen.height << "</span>"
         << "<span>started " << escape(m.started_at) << "</span><span>ended " << escape(m.ended_at)
         << "</span>"
         << "<span>" << session.steps.size() << " steps</span>";
    if (!m.replay_of.empty()) html << "<span>replay of " << escape(m.replay_of) << "</span>";
    html << "</div>";
    if (!m.message.empty()) html << "<p>" << escape(m.message) << "</p>";
    html << "</header><main>\n";
    for (const auto& w : session.warnings) html << "<p class='warn'>⚠ " << escape(w) << "</p>\n";

    html
        << "<h2>Timeline</h2><table><tr><th>#</th><th>thought</th><th>actions</th><th>approval</th>"
        << "<th>capture ms</th><th>model ms</th><th>act ms</th><th>settle "
           "ms</th><th>tokens</th></tr>\n";
    for (const auto& s : session.steps) {
        std::string actions;
        for (const auto& a : s.actions)
            actions += (actions.empty() ? "" : "; ") + action_summary(a);
        std::string approvals;
        for (const auto& a : s.approvals)
            approvals +=
                (approvals.empty() ? "" : ", ") + (a.is_string() ? a.get<std::string>() : a.dump());
        std::string thought = s.thought.size() > 160 ? s.thought.substr(0, 157) + "…" : s.thought;
        html << "<tr><td><a href='#step-" << s.index << "'>" << s.index << "</a></td><td>"
             << escape(thought) << "</td><td>" << escape(actions) << "</td><td>"
             << escape(approvals) << "</td><td>" << fmt_ms(s.capture_ms) << "</td><td>"
             << fmt_ms(s.model_ms) << "</td><td>" << fmt_ms(s.act_ms) << "</td><td>"
             << fmt_ms(s.settle_ms) << "</td><td>" << s.prompt_tokens << " / "
             << s.completion_tokens << "</td></tr>\n";
    }
    html << "</table>\n";

    for (const auto& s : session.steps) {
        html << "<section class='step' id='step-" << s.index << "'><h2>Step " << s.index
             << "</h2>\n";
        const auto png = s.screenshot.empty() ? std::nullopt : read_png(session.dir / s.screenshot);
        if (png) {
            const double unit = std::max(1.0, png->width / 1280.0);
            html << "<svg viewBox='0 0 " << png->width << " " << png->height
                 << "' role='img' aria-label='screenshot of step " << s.index
                 << "'><defs><marker id='head' viewBox='0 0 10 10' refX='8' refY='5' "
                    "markerWidth='5' "
                 << "markerHeight='5' orient='auto-start-reverse'><path d='M0,0L10,5L0,10z' "
                    "fill='#e53e3e'/></marker></defs>"
                 << "<image width='" << png->width << "' height='" << png->height
                 << "' href='data:image/png;base64," << vision::base64_encode(png->bytes)
                 << "'/><g stroke-width='" << 3 * unit << "'>";
            for (const auto& a : s.actions) html << overlay(a, unit);
            html << "</g></svg>\n";
        } else {
            html << "<div class='missing'>screenshot " << escape(s.screenshot)
                 << " is missing</div>\n";
        }
        if (!s.thought.empty()) html << "<h3>Thought</h3><p>" << escape(s.thought) << "</p>\n";
        if (!s.reflection.empty())
            html << "<h3>Reflection</h3><p>" << escape(s.reflection) << "</p>\n";
        html << "<h3>Actions</h3><pre>" << escape(s.actions.dump(2)) << "</pre>\n";
        if (!s.results.empty())
            html << "<h3>Results</h3><pre>" << escape(s.results.dump()) << "</pre>\n";
        html << "<details><summary>Model response</summary><pre>" << escape(s.raw_response)
             << "</pre></details>\n";
        html << "<p>capture " << fmt_ms(s.capture_ms) << " ms · model " << fmt_ms(s.model_ms)
             << " ms · act " << fmt_ms(s.act_ms) << " ms · settle " << fmt_ms(s.settle_ms)
             << " ms · tokens " << s.prompt_tokens << " in, " << s.completion_tokens
             << " out</p></section>\n";
    }
    html << "</main></body></html>\n";
    return html.str();
}

void write_report(const LoadedSession& session, const std::filesystem::path& output) {
    std::ofstream out(output, std::ios::binary | std::ios::trunc);
    if (!out) throw SessionError(output.string() + ": cannot open for writing");
    out << render_report(session);
    out.close();
    if (!out) throw SessionError(output.string() + ": write failed");
}

}  // namespace deskpilot::agent
