#!/usr/bin/env bash
# Installs the Debian 12 packages Deskpilot needs to build, test and run the demo.
# Idempotent and quick when nothing is missing: it asks dpkg first and only calls
# apt-get for what is absent. Without root and without sudo it prints the exact
# command to run and exits 1. It downloads nothing but Debian packages.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git
  # core libraries (DESIGN.md: "Libraries we lean on")
  nlohmann-json3-dev libcurl4-openssl-dev libcli11-dev libspdlog-dev
  libpcre2-dev libutf8proc-dev zlib1g-dev
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev
  # X11: capture (MIT-SHM, RandR, XFixes, Xinerama) and actuation (XTest)
  libx11-dev libxext-dev libxtst-dev libxrandr-dev libxfixes-dev libxinerama-dev
  # Qt 6 for the panel, the sandbox and the tests; platform plugins (xcb, offscreen)
  qt6-base-dev qt6-base-dev-tools qt6-qpa-plugins libgl-dev
  # a private X server and its helpers for tests and the demo
  xvfb xauth x11-xkb-utils x11-utils x11-xserver-utils xkb-data
  # Xorg with the dummy driver: monitors side by side and RandR resizes, which Xvfb cannot do
  xserver-xorg-core xserver-xorg-video-dummy
  fonts-dejavu-core fontconfig
  # benchmarks
  libbenchmark-dev xdotool
  # the HTML report is checked in a real browser
  chromium
  # the tests of tools/train_nano's standard-library parts (tests/tools)
  python3
  # fuzzing (tools/fuzz/build-planner-fuzzer.sh: clang with libFuzzer, ASan, UBSan)
  clang
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

install_cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "deskpilot: missing Debian packages; run as root:" >&2
  echo "  apt-get update && $install_cmd" >&2
  exit 1
fi

echo "deskpilot: installing ${#missing[@]} Debian package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when they are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
  "${sudo[@]}" apt-get update -qq
fi
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
