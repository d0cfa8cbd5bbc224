#!/usr/bin/env bash
# The whole test suite, from scratch: a virtualenv with the test dependencies, amphicorn
# built and installed by maturin (`pip install .`), the lints, the Rust unit tests, each fuzz
# target for a few seconds (FUZZ_QUICK_SECONDS, default 5; scripts/fuzz.sh --quick) and the
# end-to-end pytest suite (with Debian's prometheus and curl, installed when missing). Extra
# arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
venv=$(realpath -m "${VENV:-.venv}")
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r requirements-test.txt -r requirements-frameworks.txt
"$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps .

echo "== lint"
bash scripts/lint.sh "$venv"

echo "== rust unit tests"
libdir=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR") or "")')
PYO3_PYTHON="$venv/bin/python" LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" cargo test --quiet

echo "== fuzz targets, briefly (make fuzz runs them longer)"
VENV="$venv" bash scripts/fuzz.sh --quick "${FUZZ_QUICK_SECONDS:-5}"

# Debian packages the end-to-end tests run for real: Prometheus scrapes the admin listener
# (tests/test_prometheus_scrape.py) and curl fetches static files (tests/test_static_curl.py,
# tests/test_static_large.py); those tests fail in CI without them. Installed when missing
# and this is root with apt-get, as bench/run.sh installs wrk.
missing=()
for package in prometheus curl; do
    command -v "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing ${missing[*]} (apt-get)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "== end-to-end tests"
# Run from outside the source tree so `import amphicorn` finds the installed package.
exec "$venv/bin/python" -m pytest "$@"
