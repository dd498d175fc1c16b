#!/usr/bin/env bash
# Installs what building and testing automate needs, from Debian 12 packages
# only. Idempotent: packages already there are left alone.
# --tests: also what only the test suites need (promtool from prometheus for
# /metrics, headless Chromium and chromedriver for the web page, wrk for
# the HTTP benchmarks, Podman's Docker API service with runc and a static
# busybox for the docker executor).
set -euo pipefail
packages=(
  build-essential cmake ninja-build ccache pkg-config
  libabsl-dev libprotobuf-dev protobuf-compiler libcurl4-openssl-dev libsqlite3-dev
  rapidjson-dev libfmt-dev libyaml-cpp-dev libcli11-dev libboost-dev libssl-dev
  libpugixml-dev pybind11-dev libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-dev python3-pytest
)
if [[ "${1:-}" == "--tests" ]]; then
  packages+=(prometheus chromium chromium-driver wrk podman runc busybox-static)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
