#!/usr/bin/env bash
# Set up, then run the main demo: the seed tutorial's three models, summarised and trained.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python examples/seed_demo.py "$@"
