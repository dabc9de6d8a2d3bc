// The HTML report of a session: one self-contained, offline file (no CDN, no network) with the
// task, model, status, a timeline and, per step, the screenshot with its actions drawn on it,
// the thought, the reflection, the action JSON and the timings.
#pragma once

#include <filesystem>
#include <string>

#include "agent/session.h"

namespace deskpilot::agent {

std::string render_report(const LoadedSession& session);

// Writes the report; throws SessionError naming `output` when it cannot be written.
void write_report(const LoadedSession& session, const std::filesystem::path& output);

}  // namespace deskpilot::agent
