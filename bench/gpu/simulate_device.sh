#!/usr/bin/env bash
# Checks the GPU bundle on this machine (no GPU needed) as the lent device would see it, before
# any device time is spent. Root only (a private mount namespace); nothing outside it changes.
#   bench/gpu/simulate_device.sh [--quick]          (after bench/gpu/make_bundle.sh)
# In the namespace:
#  - the files the device tool sends (tracked + untracked, not ignored) and the bundle are copied
#    to $SIM/repo (SIM=/tmp/devsim unless set), and run_h200.sh runs from there, writing to $SIM/out;
#  - the build's own path (BUNDLE_SOURCE_DIR) is hidden under an empty tmpfs over its parent,
#    so run_h200.sh has to link it to the copy, as on the device;
#  - Debian's copy of every bundled library is hidden (an empty file bound over it), and so are
#    /usr/local/cuda's libcudart, /usr/bin/ctest and /usr/share/cmake-*: a program that reached for
#    one would fail. Kept visible: the few that the shell tools of run_h200.sh and of this script
#    (tar, xz, sed, grep, mount, ...) load; libgcc_s is hidden, so nvcc cannot start ("nvcc absent");
#  - then every bundled program is resolved with the bundle's LD_LIBRARY_PATH (ld.so --list), each test
#    runs once more to print its totals, and `deskpilot --version` and test_model_cuda_kernels run
#    under LD_DEBUG=libs: each library must come from the bundle, glibc or cuBLAS's folder.
# SIM_HIDE="/usr/bin/xz /usr/bin/ldd" hides those too (run_h200.sh then unpacks with python3 and
# lists libraries with the loader).
# Expected without a GPU: the gpu tests start and skip, every benchmark fails ("no CUDA device"),
# so it exits 1 with run_h200.sh; any library found outside the bundle, glibc and cuBLAS also fails it.
# Its own tools (unshare, mount, tar, git) are this machine's.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=bench/gpu/gpu_targets.sh
source bench/gpu/gpu_targets.sh
[[ $(id -u) == 0 ]] || { echo "simulate_device: needs root (unshare -m, mount)" >&2; exit 1; }
# The bundle run_h200.sh would take: the whole one, or else the nano test's, or else the
# benchmarks alone.
for b in "$GPU_BUNDLE" "$GPU_NANO_BUNDLE" "$GPU_BENCH_BUNDLE"; do [[ -f $b ]] && GPU_BUNDLE=$b && break; done
[[ -f $GPU_BUNDLE ]] || { echo "simulate_device: no $GPU_BUNDLE; run bench/gpu/make_bundle.sh" >&2; exit 1; }
SIM=${SIM:-/tmp/devsim}
rm -rf "$SIM"
mkdir -p "$SIM/repo/$GPU_BUILD_DIR" "$SIM/out" "$SIM/empty-dir"
: >"$SIM/empty-file"
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -x -C "$SIM/repo"
cp "$GPU_BUNDLE" "$SIM/repo/$GPU_BUILD_DIR/"
tar -xJOf "$GPU_BUNDLE" "$GPU_BUILD_DIR/device/BUNDLE_INFO" >"$SIM/BUNDLE_INFO"
tar -xJOf "$GPU_BUNDLE" "$GPU_BUILD_DIR/device/MANIFEST.txt" >"$SIM/MANIFEST.txt"
export SIM GPU_BUILD_DIR GPU_NANO_TEST
cat >"$SIM/inner.sh" <<'EOF'
set -euo pipefail
# shellcheck disable=SC1091  # written by make_bundle.sh
source "$SIM/BUNDLE_INFO"
mount -t tmpfs devsim "$(dirname "$BUNDLE_SOURCE_DIR")"
tools=(bash tar xz sed grep find mkdir ln mount awk sort head cut paste tee date hostname getconf readlink dirname cat)
tool_libs=$(for t in "${tools[@]}"; do ldd "$(readlink -f "$(command -v "$t")")"; done |
  awk '/=>/ {print $1}' | sort -u)
hidden=() kept=()
while IFS=$'\t' read -r name _ from _; do
  [[ $name == \#* || $from == STAND-IN* ]] && continue
  if grep -qx "$name" <<<"$tool_libs"; then kept+=("$name"); continue; fi
  mount --bind "$SIM/empty-file" "$from"
  hidden+=("$name")
done <"$SIM/MANIFEST.txt"
for f in /usr/local/cuda/lib64/libcudart.so.13 /usr/bin/ctest; do
  [[ -e $f ]] && mount --bind "$SIM/empty-file" "$(readlink -f "$f")" && hidden+=("$f")
done
for d in /usr/share/cmake-*; do mount --bind "$SIM/empty-dir" "$d" && hidden+=("$d"); done
for f in ${SIM_HIDE:-}; do mount --bind "$SIM/empty-file" "$(readlink -f "$f")" && hidden+=("$f"); done
echo "== simulate: $BUNDLE_SOURCE_DIR hidden; ${#hidden[@]} Debian copies hidden; visible for the tools: ${kept[*]}"
cd "$SIM/repo"
rc=0
OUT=$SIM/out bash bench/gpu/run_h200.sh "$@" || rc=$?
echo "== simulate: run_h200.sh exit $rc"

lib=$SIM/repo/$GPU_BUILD_DIR/device/lib
run_ld=$lib:/usr/local/cuda/lib64
ok='^('"$lib"'/|/lib/x86_64-linux-gnu/(libc|libm|libdl|libpthread|librt|libresolv)\.so|/usr/local/cuda/lib64/libcublas)'
bad=0
for p in $BUNDLE_PROGRAMS ${BUNDLE_TOOLS:-}; do
  out=$(LD_LIBRARY_PATH=$run_ld /lib64/ld-linux-x86-64.so.2 --list "$p" | awk '/=>/ {print $3}')
  n=$(grep -c . <<<"$out")
  wrong=$(grep -Ev "$ok" <<<"$out" || true)
  [[ -z $wrong ]] || { echo "== simulate: $p loads from outside the bundle: $wrong"; bad=1; }
  echo "   $p: $n libraries, $(grep -c "^$lib/" <<<"$out") from the bundle"
done
for p in $BUNDLE_PROGRAMS; do
  [[ ${p##*/} == test_* ]] || continue
  echo "   ${p##*/}: $(LD_LIBRARY_PATH=$run_ld DISPLAY='' QT_QPA_PLATFORM=offscreen "$BUNDLE_SOURCE_DIR/$p" 2>&1 | grep '^Totals' || true)"
done
case ${BUNDLE_KIND:-all} in
  all) checked=("bin/deskpilot --version" "tests/bin/test_model_cuda_kernels") ;;
  nano) checked=("tests/bin/$GPU_NANO_TEST") ;;
  *) checked=("bench/bench_cuda_prefill --repeats 1") ;;
esac
for cmd in "${checked[@]}"; do
  # shellcheck disable=SC2086  # the command and its argument
  # Without a GPU a benchmark exits 1 after loading everything: its exit status is not the check.
  loaded=$( (LD_DEBUG=libs LD_LIBRARY_PATH=$run_ld "$BUNDLE_SOURCE_DIR/$GPU_BUILD_DIR/"$cmd 2>&1 >/dev/null || true) |
    sed -n 's/.*calling init: //p' | sort -u)
  wrong=$(grep -Ev "$ok|^/lib64/ld-linux" <<<"$loaded" || true)
  echo "== simulate: $cmd under LD_DEBUG=libs ran the initialisers of $(grep -c . <<<"$loaded") libraries;" \
    "outside the bundle, glibc and cuBLAS: ${wrong:-none}"
  [[ -z $wrong ]] || bad=1
done
[[ $bad == 0 ]] || exit 1
exit "$rc"
EOF
exec unshare -m --propagation private bash "$SIM/inner.sh" "$@"
