#!/usr/bin/env bash
# Set up .venv for one command, installing only what that command needs:
#   scripts/setup.sh demo   plait itself (editable) with torch, numpy, safetensors, h5py
#   scripts/setup.sh test   the same plus the test extra (Keras as the reference, ONNX, MkDocs, ...)
# Every install goes through scripts/constraints.txt, which pins torch to the CPU build this
# project's machines have in their local package cache (torch==2.13.0): nothing large is
# downloaded. A step that is already done (its stamp in .venv is newer than pyproject.toml and
# the constraints) is skipped, so a second run takes well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-test}
case "$what" in
  demo) spec="."; stamp=.venv/.plait-demo; label="plait with torch 2.13.0 (CPU), numpy, safetensors and h5py"
        first="about a minute" ;;
  test) spec=".[test]"; stamp=.venv/.plait-test; label="plait with its test extra (Keras 3.15.1, scikit-learn, ONNX, MkDocs, ...)"
        first="a few minutes" ;;
  *) echo "usage: scripts/setup.sh [demo|test]" >&2; exit 2 ;;
esac

fresh() {  # is the stamp newer than everything that decides what gets installed?
  [ -f "$1" ] && [ "$1" -nt pyproject.toml ] && [ "$1" -nt scripts/constraints.txt ]
}
if [ -x .venv/bin/python ] && fresh "$stamp"; then
  exit 0
fi
if [ "$what" = demo ] && [ -x .venv/bin/python ] && fresh .venv/.plait-test; then
  exit 0  # the test set-up includes everything the demo needs
fi

started=$SECONDS
# Run a step quietly, saying what it does and, every 5 seconds, how far it is (the last line of
# its log); on failure, show the log.
step() {
  local title=$1 log
  log=$(mktemp)
  shift
  echo "[setup] $title"
  "$@" >"$log" 2>&1 &
  local pid=$! ticks=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    ticks=$((ticks + 1))
    if [ $((ticks % 5)) -eq 0 ] && kill -0 "$pid" 2>/dev/null; then
      local last
      last=$({ grep -v "is ignored: it is neither" "$log" || true; } | tail -n 1 | cut -c1-90)
      echo "[setup]   ${ticks} s${last:+: $last}"
    fi
  done
  if ! wait "$pid"; then
    echo "[setup] failed: $title. Its output:" >&2
    grep -v "is ignored: it is neither" "$log" >&2 || true
    exit 1
  fi
  rm -f "$log"
}

if [ ! -x .venv/bin/python ]; then
  step "creating the virtual environment .venv (python3 -m venv, once)" python3 -m venv .venv
fi
step "installing $label into .venv from the local package cache (the first time: $first)" \
  .venv/bin/python -m pip install --progress-bar off -c scripts/constraints.txt -e "$spec"
touch "$stamp"
echo "[setup] done in $((SECONDS - started)) s; the next run skips this until pyproject.toml or scripts/constraints.txt change"
