#!/usr/bin/env bash
# Builds llama.cpp from source for the engine comparison benchmark, outside the repository.
# The source comes from the llama-cpp-python sdist on PyPI (it vendors llama.cpp), because PyPI is
# reachable from the development machines and GitHub is not. Nothing here is committed.
#   tools/bench/build_llama_cpp.sh [cache-dir]     (default ~/.cache/deskpilot/llama.cpp)
# Prints the path of the llama-bench binary on success; llama_logits (tools/bench/llama_logits.cpp,
# the harness's check that the converted model computes the same logits) is built next to it, and
# so is llama_vlm (tools/bench/llama_vlm.cpp: one image plus a prompt through libmtmd, for
# tools/bench/vlm_vs_llama_cpp.sh), with the mtmd library (about 3 more minutes on 2 cores).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/deskpilot/llama.cpp}
jobs=${JOBS:-2}
mkdir -p "$cache"
cd "$cache"
sdist=$(ls llama_cpp_python-*.tar.gz 2>/dev/null | sort -V | tail -1 || true)
if [[ -z "$sdist" ]]; then
  pip download llama-cpp-python --no-binary :all: --no-deps -d "$cache" >&2
  sdist=$(ls llama_cpp_python-*.tar.gz | sort -V | tail -1)
fi
src=$cache/${sdist%.tar.gz}
[[ -d "$src" ]] || tar xzf "$sdist"
llama=$src/vendor/llama.cpp
[[ -f "$llama/CMakeLists.txt" ]] || { echo "error: $sdist has no vendor/llama.cpp" >&2; exit 1; }
# Native, Release, CPU only, no network code; only llama-bench, mtmd and the libraries they need.
cmake -S "$llama" -B "$cache/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_SERVER=OFF -DGGML_CUDA=OFF -DBUILD_SHARED_LIBS=OFF >&2
cmake --build "$cache/build" -j"$jobs" --target llama-bench mtmd >&2
b=$cache/build
${CXX:-c++} -O2 -std=c++17 "$here/llama_logits.cpp" -I"$llama/include" -I"$llama/ggml/include" \
  "$b/src/libllama.a" "$b/ggml/src/libggml.a" "$b/ggml/src/libggml-cpu.a" \
  "$b/ggml/src/libggml-base.a" -fopenmp -lpthread -ldl -o "$b/bin/llama_logits" >&2
${CXX:-c++} -O2 -std=c++17 "$here/llama_vlm.cpp" -I"$llama/include" -I"$llama/ggml/include" \
  -I"$llama/tools/mtmd" "$b/tools/mtmd/libmtmd.a" "$b/src/libllama.a" "$b/ggml/src/libggml.a" \
  "$b/ggml/src/libggml-cpu.a" "$b/ggml/src/libggml-base.a" "$b/vendor/hash/libvendor-hash.a" \
  -fopenmp -lpthread -ldl -o "$b/bin/llama_vlm" >&2
echo "$cache/build/bin/llama-bench"
