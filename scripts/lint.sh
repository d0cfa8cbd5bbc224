#!/usr/bin/env bash
# Lints, warnings as errors: rustfmt, clippy, ruff (check and format). Usage: lint.sh [VENV]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv}
cargo fmt --all -- --check
cargo clippy --quiet --all-targets -- -D warnings
"$venv/bin/ruff" check python tests examples bench scripts
"$venv/bin/ruff" format --check python tests examples bench scripts
