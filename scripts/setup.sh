#!/usr/bin/env bash
# Create (or reuse) .venv at the repo root and install the project into it. Idempotent:
# when everything is installed already, this takes a few seconds.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
stamp=.venv/.hooked-impala-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    # This machine's torch: the CPU wheel (pip finds it on local disk through PIP_FIND_LINKS).
    # The package itself accepts a range, so an existing CUDA torch is kept elsewhere.
    .venv/bin/python -m pip install --quiet "torch==${HOOKED_IMPALA_TORCH:-2.13.0}"
    .venv/bin/python -m pip install --quiet -e ".[dev,docs,ray,rl,explorer]"
    touch "$stamp"
fi

# The docs tests drive a real browser: Debian's chromium. Install it where we can (root with
# apt); elsewhere those tests skip locally (and fail in CI) with a message saying so.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium (for the docs browser test)..." >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "warning: could not install chromium; the browser test will not pass" >&2
fi
