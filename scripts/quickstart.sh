#!/usr/bin/env bash
# Quick start: installs what is missing, builds automate, and runs an example
# job end to end on the embedded default (SQLite + local processes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset dev >/dev/null
cmake --build --preset dev --target automate_bin
export AUTOMATE_STATE_DIR="${AUTOMATE_STATE_DIR:-$PWD/build/quickstart-state}"
bin=build/dev/bin/automate
set -x
$bin apply -f examples/jobs/hello.yaml
$bin describe hello
$bin run hello NAME=automate --follow
$bin history hello
