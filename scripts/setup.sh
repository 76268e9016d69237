#!/usr/bin/env bash
# Create .venv (once) and install plait with its test extras. Every install goes through
# scripts/constraints.txt, which pins torch to the CPU build this project's machines have on disk
# (torch==2.13.0), so nothing large is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.plait-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ scripts/constraints.txt -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c scripts/constraints.txt -e ".[test]"
  touch "$stamp"
fi
