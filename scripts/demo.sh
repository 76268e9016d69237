#!/usr/bin/env bash
# Set up .venv with what the demo needs (plait and torch; see scripts/setup.sh), then run the
# seed tutorial's three models: summarised, trained, and compared in a closing table.
# ./scripts/demo.sh --full runs the long training.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh demo
PYTHONUNBUFFERED=1 exec .venv/bin/python examples/seed_demo.py "$@"
