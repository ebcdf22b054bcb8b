#!/usr/bin/env bash
# Set up .venv (idempotent) and run the main job. Arguments go to the job (see --help).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
cd "$root"
exec .venv/bin/python -m analyses.report "$@"
