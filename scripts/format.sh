#!/usr/bin/env bash
# Rewrites the sources in the project's style: rustfmt and ruff. Usage: format.sh [VENV]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv}
cargo fmt --all
"$venv/bin/ruff" check --fix python tests examples bench scripts
"$venv/bin/ruff" format python tests examples bench scripts
