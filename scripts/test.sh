#!/usr/bin/env bash
# Set up .venv with the test extra (see scripts/setup.sh), then run the test suite (warnings are
# errors; see pyproject.toml). Arguments go to pytest: ./scripts/test.sh tests/test_seed.py -x
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
exec .venv/bin/python -m pytest "$@"
