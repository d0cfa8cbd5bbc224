# One entry point per chore; each is a script in scripts/ so CI and people run the same thing.
.PHONY: build-dev format lint test all bench bench-quick bench-strict bench-profile bench-callgrind bench-floor bench-ab bench-protocols bench-static compat settings-table strict-table chaos soak connection-memory fuzz

build-dev:  ## build and install amphicorn into the current Python, editable, without fat LTO (Cargo.toml's profile.fast)
	MATURIN_PEP517_ARGS="--profile fast" pip install -e .

format:
	bash scripts/format.sh

lint:
	bash scripts/lint.sh

test:
	bash scripts/test.sh

all: format test

FUZZ_SECONDS ?= 60

fuzz:  ## every fuzz target in fuzz/ for FUZZ_SECONDS (default 60) each, optimized, with AddressSanitizer
	bash scripts/fuzz.sh $(FUZZ_SECONDS)

bench:  ## the benchmark suite (bench/README.md); results in bench/results/
	bash bench/run.sh

bench-strict:  ## hellos, echoes, streams, the mixed process and real apps, one core each, every peer (bench/strict.py)
	bash bench/run.sh strict

bench-profile:  ## the strict runs under perf: CPU µs per request by object, thread and symbol (bench/strict_profile.py)
	bash bench/run.sh profile

bench-callgrind:  ## the hellos under callgrind: instructions and simulated cache misses per request (bench/strict_callgrind.py)
	bash bench/run.sh callgrind --only wsgi-hello,asgi-hello

bench-floor:  ## the strict scenarios' apps called alone, no server: the floor under any server's CPU (bench/app_floor.py)
	bash bench/run.sh floor

bench-ab:  ## two amphicorn builds in turns (A=python B=python, e.g. two venvs), WSGI hello at 64 and 256 connections: which costs less CPU per request (bench/ab.py)
	bash bench/run.sh ab --a $(A) --b $(B)

bench-protocols:  ## TLS and HTTP/2 against granian, hypercorn and pyvoy, one core each (bench/protocols.py)
	bash bench/run.sh protocols

bench-static:  ## static files (4 KiB, 1 MiB: 200, 304, range) and compressed JSON against nginx, granian and pyvoy, one core each (bench/static_files.py)
	bash bench/run.sh static

bench-quick:  ## the same, ~1 s per server and scenario, results in /tmp
	bash bench/run.sh --quick --out /tmp/amphicorn-bench-quick

PYTHON ?= .venv/bin/python

compat:  ## the framework suite, then README's compatibility table from its results (even if some fail)
	$(PYTHON) -m pytest tests/test_frameworks.py -q; status=$$?; \
	$(PYTHON) scripts/compat_table.py && exit $$status

strict-table:  ## README's performance table from the last strict run (bench/results/strict.json)
	$(PYTHON) scripts/strict_table.py

settings-table:  ## README's flag table from the declarations in python/amphicorn/settings.py
	$(PYTHON) scripts/settings_table.py

chaos:  ## the chaos suite (tests/chaos), 30 s of load per scenario (the soak 60 s); the test command runs it for 3 s each (the soak 6 s)
	CHAOS_SECONDS=30 CHAOS_SLOW_CLIENTS=2000 $(PYTHON) -m pytest tests/chaos -q -s -p no:cacheprovider

CHAOS_SOAK_SECONDS ?= 600

soak:  ## the soak alone (tests/chaos/test_chaos_soak.py): mixed load on one process for CHAOS_SOAK_SECONDS (default 600), RSS flat; not run by the test command
	CHAOS_SOAK_SECONDS=$(CHAOS_SOAK_SECONDS) $(PYTHON) -m pytest tests/chaos/test_chaos_soak.py -q -s -p no:cacheprovider

connection-memory:  ## RSS per idle keep-alive and per slow (header-dripping) connection: amphicorn, granian and the bare hyper hello where there
	$(PYTHON) bench/connection_memory.py --connections 2000
