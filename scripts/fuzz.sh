#!/usr/bin/env bash
# Builds the fuzz targets in fuzz/ and runs each for SECONDS seconds (default 60), one after
# the other; fails as soon as one crashes (libFuzzer leaves the input in
# fuzz/artifacts/<target>/, `cargo fuzz run <target> <file>` replays it).
#
#   scripts/fuzz.sh [--quick] [SECONDS] [TARGET...]
#
# --quick (the test command's mode): a debug build without AddressSanitizer, which builds in
# a fraction of the time; each target first replays its seed corpus, then fuzzes for SECONDS,
# writing what it finds to a scratch directory, not to the committed corpus. Without it
# (`make fuzz`): cargo-fuzz's optimized build with AddressSanitizer, and new inputs are kept in
# fuzz/corpus/<target>/ (only the seed-* files there are committed).
#
# Only the stable toolchain is needed: RUSTC_BOOTSTRAP=1 lets stable rustc take the -Z flags
# cargo-fuzz passes. cargo-fuzz itself is installed from crates.io when missing (~1.5 min).
# pyo3's build needs an interpreter (PYO3_PYTHON: VENV's, default .venv, else python3); the
# targets call no Python, so the linker drops libpython (LD_LIBRARY_PATH is set as for
# `cargo test` all the same, should one ever reference it).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=false
if [ "${1:-}" = --quick ]; then
    quick=true
    shift
fi
seconds=${1:-60}
shift || true

venv=$(realpath -m "${VENV:-.venv}")
python=$venv/bin/python
[ -x "$python" ] || python=${PYTHON:-python3}
export PYO3_PYTHON=$python
libdir=$("$python" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR") or "")')
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz from crates.io"
    cargo install --quiet --locked cargo-fuzz
fi

# `cargo +stable` where rustup is there to pick the toolchain, to show that stable is enough.
cargo=(cargo)
if command -v rustup >/dev/null 2>&1; then
    cargo=(cargo +stable)
fi
cd fuzz
mapfile -t targets < <("${cargo[@]}" fuzz list)
if [ $# -gt 0 ]; then
    targets=("$@")
fi
if $quick; then
    build=(--dev --sanitizer none)
else
    build=()
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# One build for all the targets (dependencies are shared), then one run per target.
"${cargo[@]}" fuzz build "${build[@]}"

# Runs a target with libFuzzer's arguments; on a crash, shows its end and stops.
run() {
    local target=$1
    shift
    if ! "${cargo[@]}" fuzz run "${build[@]}" "$target" "$@" >"$scratch/log" 2>&1; then
        tail -n 40 "$scratch/log"
        echo "fuzz target $target crashed: the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E '^Done|INITED' "$scratch/log" | tail -n 1
}

for target in "${targets[@]}"; do
    echo "== fuzz $target (${seconds}s)"
    seeds=corpus/$target
    if $quick; then
        # Every seed first (-runs=0 runs the corpus and stops), then fuzzing from the seeds,
        # keeping what is found in a scratch directory.
        run "$target" "$seeds" -- -runs=0
        mkdir -p "$scratch/$target"
        run "$target" "$scratch/$target" "$seeds" -- -max_total_time="$seconds"
    else
        run "$target" "$seeds" -- -max_total_time="$seconds"
    fi
done
