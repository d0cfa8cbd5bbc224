#!/usr/bin/env bash
# Rewrites the sources in the project's style: rustfmt and ruff. Usage: format.sh [VENV]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv}
cargo fmt --all
cargo fmt --manifest-path bench/bridge-pyo3-async-runtimes/Cargo.toml
"$venv/bin/ruff" check --fix python tests examples bench scripts
"$venv/bin/ruff" format python tests examples bench scripts
