#!/usr/bin/env bash
# Set up .venv (idempotent), check style, run the whole test suite. Arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
cd "$root"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# The slowest tests are listed at the end, so the suite's time has names on it.
exec .venv/bin/python -m pytest --durations=30 "$@"
