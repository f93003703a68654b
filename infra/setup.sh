#!/usr/bin/env bash
# Creates .venv/ and installs the locked stack into it; a no-op (seconds) when nothing changed.
#
# Why this shape (see README "Installation" and ../shared/STACK.md):
# - the stack is resolved once into infra/requirements.lock (`make lock`) and installed with
#   `uv pip sync`, because pip's resolver backtracks for 10+ minutes on this graph;
# - tfx and ml-pipelines-sdk 1.16.0 declare Requires-Python <3.11 but run on 3.11, so exactly
#   those two are installed with --no-deps and --python-version 3.10;
# - a stamp holding the hash of the lock, pyproject.toml and this script makes a second run free.
# Usage: infra/setup.sh [--browser]   (--browser also installs Debian's chromium for UI tests)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON_BIN=${PYTHON:-python3.11}
VENV=.venv
STAMP="$VENV/.stack-stamp"
TFX_PINS=(tfx==1.16.0 ml-pipelines-sdk==1.16.0)

want=$(cat infra/requirements.lock pyproject.toml infra/setup.sh | sha256sum | cut -c1-16)

if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$want" ]; then
  if ! command -v "$PYTHON_BIN" >/dev/null; then
    echo "setup: $PYTHON_BIN not found. Install CPython 3.11 or set PYTHON=/path/to/python3.11." >&2
    exit 2
  fi
  echo "setup: installing the locked stack into $VENV (first time: a few minutes)"
  [ -x "$VENV/bin/python" ] || "$PYTHON_BIN" -m venv "$VENV"
  uv_pin=$(grep -E '^uv==' infra/requirements.lock)
  [ -x "$VENV/bin/uv" ] || "$VENV/bin/python" -m pip install -q "$uv_pin"
  "$VENV/bin/uv" pip sync -q --python "$VENV/bin/python" infra/requirements.lock
  "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" --python-version 3.10 --no-deps "${TFX_PINS[@]}"
  "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" --no-deps -e .
  echo "$want" > "$STAMP"
  echo "setup: done"
fi

if [ "${1:-}" = "--browser" ] && ! command -v chromium >/dev/null; then
  echo "setup: installing Debian's chromium for the browser tests"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
fi
