#!/usr/bin/env bash
# Set up .venv (idempotent), check style, run the whole test suite. Arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
cd "$root"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# Two workers, one per core, each with one torch thread (tests/conftest.py): about 8 minutes
# instead of 12 serially, where torch's two threads on small batches idle half the time.
# A file's tests stay on one worker, so a module's fixtures are built once.
# The slowest tests are listed at the end, so the suite's time has names on it.
exec .venv/bin/python -m pytest -n 2 --dist loadfile --durations=30 "$@"
