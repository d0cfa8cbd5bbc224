#!/usr/bin/env bash
# amphicorn's benchmark, in one command (`make bench`): amphicorn side by side with granian,
# uvicorn, gunicorn, uvicorn+a2wsgi and a bare hyper hello-world, one worker each, under wrk.
#
#   bash bench/run.sh                      # full run: 10 s per server and scenario (~8 min)
#   bash bench/run.sh --quick              # ~1 s each (what tests/test_bench_quick.py runs)
#   bash bench/run.sh --only wsgi-hello --servers amphicorn,granian --duration 5
#   bash bench/run.sh protocols [ARGS]     # TLS and HTTP/2, one core each (bench/protocols.py)
#   bash bench/run.sh static [ARGS]        # static files and compressed JSON, one core each,
#                                          # against nginx too (bench/static_files.py)
#   bash bench/run.sh strict [ARGS]        # hellos, echoes, streams, the mixed process: one
#                                          # core each, every peer (bench/strict.py)
#   bash bench/run.sh profile [ARGS]       # the same runs under perf: CPU µs per request by
#                                          # object, thread and symbol (bench/strict_profile.py)
#   bash bench/run.sh callgrind [ARGS]     # the same servers under callgrind: instructions and
#                                          # simulated cache misses per request, which a noisy
#                                          # host does not move (bench/strict_callgrind.py)
#   bash bench/run.sh floor [ARGS]         # the strict scenarios' apps alone, no server: the
#                                          # floor under any server's CPU (bench/app_floor.py)
#   bash bench/run.sh ab --a PY --b PY [ARGS]  # two amphicorn builds in turns, round by round:
#                                          # which costs less CPU per request (bench/ab.py)
#
# Steps, each skipped when already done:
#   1. bench/.venv with the pinned peers of bench/requirements.txt (re-installed when it changes);
#   2. amphicorn built from this repository (maturin, release) into that venv -- unless
#      AMPHICORN_PYTHON names a Python that already has the amphicorn to measure;
#   3. wrk (apt-get install wrk when missing and running as root);
#   4. the hyper ceiling server, bench/hyper-hello (cargo build --release);
#   5. the pyo3-async-runtimes peer, bench/bridge-pyo3-async-runtimes (maturin, release, into
#      the venv) -- only when the run measures it: not in --quick runs unless --servers names it;
#   6. bench/bench.py with every argument given here (see `bench/bench.py --help`).
# Results go to bench/results/ (results.md, results.json, results.png; wrk output in raw/).
set -euo pipefail
script=bench.py
case "${1:-}" in
    protocols) script=protocols.py; shift ;;
    static) script=static_files.py; shift ;;
    strict) script=strict.py; shift ;;
    profile) script=strict_profile.py; shift ;;
    callgrind) script=strict_callgrind.py; shift ;;
    floor) script=app_floor.py; shift ;;
    ab) script=ab.py; shift ;;
esac
bench=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$bench")
venv="$bench/.venv"
python=${PYTHON:-python3}

say() { echo "== bench: $*" >&2; }

# 1. The venv and the peers.
if [ ! -x "$venv/bin/python" ]; then
    say "creating $venv"
    "$python" -m venv "$venv"
fi
stamp="$venv/.bench-requirements"
if ! cmp -s "$bench/requirements.txt" "$stamp"; then
    say "installing the peers (bench/requirements.txt)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$bench/requirements.txt"
    cp "$bench/requirements.txt" "$stamp"
fi

# The apps alone need only the peers' venv (Django, FastAPI, uvloop): no server, no wrk.
if [ "$script" = app_floor.py ]; then
    say "running bench/app_floor.py $*"
    exec "$venv/bin/python" "$bench/app_floor.py" "$@"
fi

# 2. amphicorn from this checkout, rebuilt every time so the run measures the code as it is
# (an A/B measures the two builds it is given).
if [ "$script" = ab.py ]; then
    :
elif [ -n "${AMPHICORN_PYTHON:-}" ]; then
    say "measuring the amphicorn of $AMPHICORN_PYTHON"
    "$AMPHICORN_PYTHON" -c 'import amphicorn' || { echo "bench: $AMPHICORN_PYTHON cannot import amphicorn" >&2; exit 2; }
else
    say "building amphicorn from $repo (release) into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$repo"
fi

# 3. wrk.
if ! command -v wrk >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing wrk (apt-get)"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
    else
        echo "bench: wrk is not installed and this is not root with apt-get; install it (e.g. 'sudo apt-get install wrk') and run again" >&2
        exit 2
    fi
fi

# The A/B needs wrk and taskset, and nothing below.
if [ "$script" = ab.py ]; then
    say "running bench/ab.py $*"
    exec "$venv/bin/python" "$bench/ab.py" "$@"
fi

# The protocols run needs h2load (and taskset, from util-linux) and nothing below.
if [ "$script" = protocols.py ]; then
    if ! command -v h2load >/dev/null 2>&1; then
        [ "$(id -u)" = 0 ] || { echo "bench: h2load is missing: apt-get install nghttp2-client" >&2; exit 2; }
        say "installing h2load (apt-get install nghttp2-client)"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client >/dev/null
    fi
    say "running bench/protocols.py $*"
    exec "$venv/bin/python" "$bench/protocols.py" "$@"
fi

# The static run needs nginx (Debian's package; the harness starts it with a config of its
# own, so the package's service is never used) and curl, and nothing below.
if [ "$script" = static_files.py ]; then
    for tool in nginx:nginx curl:curl; do
        command -v "${tool%%:*}" >/dev/null 2>&1 && continue
        [ "$(id -u)" = 0 ] || { echo "bench: ${tool%%:*} is missing: apt-get install ${tool#*:}" >&2; exit 2; }
        say "installing ${tool%%:*} (apt-get install ${tool#*:})"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${tool#*:}" >/dev/null
    done
    say "running bench/static_files.py $*"
    exec "$venv/bin/python" "$bench/static_files.py" --amphicorn-python "${AMPHICORN_PYTHON:-$venv/bin/python}" "$@"
fi

# 4. The ceiling: a bare tokio + hyper hello-world.
say "building bench/hyper-hello (cargo, release)"
cargo build --quiet --release --manifest-path "$bench/hyper-hello/Cargo.toml"

# The strict run needs taskset (util-linux) and nothing below; its profile, perf too.
if [ "$script" = strict_profile.py ] && ! command -v perf >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || { echo "bench: perf is missing: apt-get install linux-perf" >&2; exit 2; }
    say "installing perf (apt-get install linux-perf)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null
fi
if [ "$script" = strict_callgrind.py ] && ! command -v valgrind >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || { echo "bench: valgrind is missing: apt-get install valgrind" >&2; exit 2; }
    say "installing valgrind (apt-get install valgrind)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
fi
if [ "$script" = strict.py ] || [ "$script" = strict_profile.py ] || [ "$script" = strict_callgrind.py ]; then
    say "running bench/$script $*"
    exec "$venv/bin/python" "$bench/$script" --amphicorn-python "${AMPHICORN_PYTHON:-$venv/bin/python}" "$@"
fi

# 5. The same stack as amphicorn with pyo3-async-runtimes as the asyncio bridge. bench.py
# leaves it out of --quick runs unless --servers names it (compiling it from cold takes
# minutes, which the quick test cannot spare), so it is built only when it will run.
quick=no servers=
previous=
for arg in "$@"; do
    [ "$previous" = --servers ] && servers=$arg
    case "$arg" in
        --quick) quick=yes ;;
        --servers=*) servers=${arg#--servers=} ;;
    esac
    previous=$arg
done
if [ -n "$servers" ]; then
    case ",$servers," in *,pyo3-async-runtimes,*) build_bridge=yes ;; *) build_bridge=no ;; esac
else
    [ "$quick" = yes ] && build_bridge=no || build_bridge=yes
fi
if [ "$build_bridge" = yes ]; then
    say "building bench/bridge-pyo3-async-runtimes (maturin, release) into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps \
        "$bench/bridge-pyo3-async-runtimes"
fi

# 6. The benchmark itself.
say "running bench/bench.py $*"
exec "$venv/bin/python" "$bench/bench.py" "$@"
