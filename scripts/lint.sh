#!/usr/bin/env bash
# Lints, warnings as errors: rustfmt, clippy, ruff (check and format), mypy. Usage: lint.sh [VENV]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv}
cargo fmt --all -- --check
# The benchmark's pyo3-async-runtimes peer is a crate of its own (rustfmt.toml from here).
cargo fmt --manifest-path bench/bridge-pyo3-async-runtimes/Cargo.toml -- --check
cargo clippy --quiet --all-targets -- -D warnings
"$venv/bin/ruff" check python tests examples bench scripts
"$venv/bin/ruff" format --check python tests examples bench scripts
# Types: strict for the package (see [tool.mypy] in pyproject.toml).
"$venv/bin/python" -m mypy
