// bench/gpu/bench_cuda_moe.cpp on the host emulator (run.sh, ONLY=bench_moe): the benchmark's
// host-grouped and device-grouped MoE layers at tiny shapes, whose outputs it compares (its exit
// status); the timings mean nothing here.
#define EMU_WITH_ENGINE
#include <prelude.h>
#include "engine_standins.h"
#include "bench/gpu/bench_cuda_moe.cpp"
