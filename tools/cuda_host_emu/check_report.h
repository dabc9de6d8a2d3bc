// What the emulator's *_check.cpp programs share: one "ok"/"FAIL" line per expectation, the
// failures counted in `bad` (each program's exit status), and the text of an expected error.
#pragma once

#include <cstdio>
#include <exception>
#include <string>

inline int bad = 0;

inline void expect(bool ok, const std::string& what) {
    std::printf("  %s: %s\n", ok ? "ok" : "FAIL", what.c_str());
    bad += !ok;
}

// The message of the E that `f` throws ("" for none); other exceptions propagate.
template <typename E = std::exception, typename F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const E& e) {
        return e.what();
    }
    return "";
}
