// harness_probe MODE PIDFILE: starts a private Xvfb through the harness, writes Xvfb's pid to
// PIDFILE, then ends the way a broken test would: MODE "fail" returns 1 (destructors run),
// "abort" calls abort(), "hang" waits to be killed with SIGKILL. test_harness checks that no
// Xvfb outlives it in each case.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include "x11_harness.h"

int main(int argc, char** argv) {
    if (argc != 3) return 2;
    auto display = deskpilot::testing::start_display(320, 240);
    { std::ofstream(argv[2]) << display->pid() << "\n"; }
    if (std::strcmp(argv[1], "abort") == 0) std::abort();
    if (std::strcmp(argv[1], "hang") == 0) std::this_thread::sleep_for(std::chrono::minutes(5));
    return 1;
}
