#!/usr/bin/env bash
# README command 1: set up .venv (if needed) and run the main job on the embedded synthetic benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python tools/run_embedded.py "$@"
