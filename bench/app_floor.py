#!/usr/bin/env python3
# ruff: noqa: RUF001 -- the table prints ranges with an en dash on purpose
"""The apps alone: each strict scenario's app called in this process, no server, on the
server's core, and what one call costs in CPU.

A server can only add to what its app costs, so an app's own CPU per call is a floor under
every server's CPU per request in that scenario, and it bounds the ratios the strict run can
show: a server that added nothing would be ``peer's CPU per request / floor`` times faster
than the peer (on one busy core requests/s go as the inverse of CPU per request). Where that
is below a target's bound (the real apps against a peer that adds little), no server can
meet the target; strict.md's rows give the peers' CPU per request.

The WSGI apps are called with an environ like a server's and their iterable drained and
closed; the ASGI apps are awaited with a scope like a server's, a ``receive`` that hands
over the body, and a ``send`` that keeps what it is given; all in one task on an asyncio
loop (uvloop when installed). ``real-mixed`` calls its Django and FastAPI apps in turns, as
its load sends their requests. Every answer is checked (status 200, the route's body length).

    bench/.venv/bin/python bench/app_floor.py                     # 5 rounds of 2,000 calls
    bench/.venv/bin/python bench/app_floor.py --only real-wsgi --calls 500 --rounds 3

Writes ``--out`` (default bench/results): app_floor.md and app_floor.json.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from one_core import SERVER_CORE, on_server_core
from strict_peers import SCENARIOS, StrictScenario

from bench import BENCH_DIR, request_body

# The hellos and the real apps (the mixed one: its two apps in turns).
FLOORED = ("wsgi-hello", "asgi-hello", "real-wsgi", "real-asgi", "real-mixed")
PORT = 8000


def wsgi_call(scenario: StrictScenario) -> Callable[[], int]:
    """One call of the scenario's WSGI app: its body's length (after a 200)."""
    app = load(scenario.apps.wsgi)
    route = scenario.routes[0]
    body, kind = request_body(route)

    def call() -> int:
        environ = {
            "REQUEST_METHOD": route.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": route.path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": str(PORT),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "REMOTE_PORT": "40000",
            "HTTP_HOST": f"127.0.0.1:{PORT}",
            "CONTENT_TYPE": kind,
            "CONTENT_LENGTH": str(len(body)) if body else "",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        statuses = []
        result = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
        try:
            length = sum(len(chunk) for chunk in result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not statuses or not statuses[0].startswith("200"):
            raise RuntimeError(f"{route.path}: {statuses[:1] or 'no status'}")
        return length

    return call


def asgi_call(scenario: StrictScenario) -> Callable[[], Awaitable[int]]:
    """One call of the scenario's ASGI app, to await: its body's length (after a 200)."""
    app = load(scenario.apps.asgi)
    route = scenario.routes[0]
    body, kind = request_body(route)
    headers = [(b"host", f"127.0.0.1:{PORT}".encode())]
    if body:
        headers += [(b"content-type", kind.encode()), (b"content-length", str(len(body)).encode())]

    async def call() -> int:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": route.method,
            "scheme": "http",
            "path": route.path,
            "raw_path": route.path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "server": ("127.0.0.1", PORT),
            "client": ("127.0.0.1", 40000),
            "state": {},
        }
        given = False

        async def receive() -> dict:
            nonlocal given
            if given:
                return {"type": "http.disconnect"}
            given = True
            return {"type": "http.request", "body": body, "more_body": False}

        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        await app(scope, receive, send)
        if not sent or sent[0].get("status") != 200:
            raise RuntimeError(f"{route.path}: {sent[:1] or 'nothing sent'}")
        return sum(len(message.get("body", b"")) for message in sent[1:])

    return call


def caller(scenario: StrictScenario) -> Callable[[int], None]:
    """``count`` calls of the scenario's app (each checked), one after the other in a task
    on an asyncio loop (uvloop when installed), as an ASGI server runs its app; a WSGI app is
    called in that task too. ``real-mixed`` takes the real WSGI and ASGI apps in turns, as its
    load does: each call one request."""
    if scenario.name == "real-mixed":
        calls = [wsgi_call(SCENARIOS["real-wsgi"]), asgi_call(SCENARIOS["real-asgi"])]
        lengths = [SCENARIOS["real-wsgi"].routes[0].expect_len, SCENARIOS["real-asgi"].routes[0].expect_len]
    else:
        calls = [wsgi_call(scenario) if scenario.kind == "wsgi" else asgi_call(scenario)]
        lengths = [scenario.routes[0].expect_len]

    async def run(count: int) -> None:
        for number in range(count):
            turn = number % len(calls)
            answer = calls[turn]()
            length = await answer if inspect.isawaitable(answer) else answer
            if length != lengths[turn]:
                raise RuntimeError(f"{scenario.name}: a body of {length} bytes, expected {lengths[turn]}")

    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    return lambda count: loop.run_until_complete(run(count))


def load(spec: str):
    module, _, name = spec.partition(":")
    return getattr(__import__(module), name)


def cpu_per_call(call: Callable[[int], None], calls: int) -> float:
    """CPU µs per call, over ``calls`` calls, of this process (the app's threads included)."""
    before = time.process_time()
    call(calls)
    return (time.process_time() - before) / calls * 1e6


def measure(scenario: StrictScenario, calls: int, rounds: int) -> dict:
    """The scenario's app: its answers checked, ``rounds`` timings of ``calls`` calls."""
    call = caller(scenario)
    call(2)  # every answer checked once before any timing
    cpu_per_call(call, max(2, calls // 5))  # warm-up: caches, Django's connection, templates
    figures = [cpu_per_call(call, calls) for _ in range(rounds)]
    return {"case": scenario.name, "calls": calls, "rounds": figures, "cpu_us": statistics.median(figures)}


def render(rows: list[dict], calls: int, rounds: int) -> str:
    lines = [
        "# The apps alone: CPU per call, no server",
        "",
        f"Each scenario's app called in one process pinned to CPU {SERVER_CORE} (`bench/app_floor.py`), "
        f"{rounds} rounds of {calls:,} calls after a warm-up; the median and the rounds' range. "
        "A floor under any server's CPU per request in that scenario: a server that added nothing "
        "would be (a peer's CPU µs/req in strict.md) / (this) times faster than the peer.",
        "",
        "| scenario | app | CPU µs per call (median) | rounds |",
        "|---|---|---:|---|",
    ]
    for row in rows:
        scenario = SCENARIOS[row["case"]]
        kinds = ("wsgi", "asgi") if scenario.kind == "mixed" else (scenario.kind,)
        app = " and ".join(f"`{getattr(scenario.apps, kind)}`" for kind in kinds)
        spread = f"{min(row['rounds']):.1f}–{max(row['rounds']):.1f}"
        lines.append(f"| {row['case']} | {app} | {row['cpu_us']:.1f} | {spread} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(FLOORED), help=f"scenarios among {', '.join(FLOORED)}")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--pinned", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = [name for name in args.only.split(",") if name]
    unknown = [name for name in names if name not in FLOORED]
    if unknown or args.calls < 1 or args.rounds < 1:
        parser.error(f"--only {args.only!r}: not among {', '.join(FLOORED)}" if unknown else "--calls and --rounds ≥ 1")
    if not args.pinned:
        # Once more on the server's core, where the strict run's servers run.
        return subprocess.call(on_server_core([sys.executable, *sys.argv, "--pinned"]))
    sys.path.insert(0, str(BENCH_DIR / "apps"))
    # Django's ORM refuses a thread with a running event loop (a server calls a WSGI app on a
    # thread without one); this loop only runs the calls one after the other, so it may.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    os.chdir(BENCH_DIR / "apps")
    rows = []
    for name in names:
        row = measure(SCENARIOS[name], args.calls, args.rounds)
        print(f"{name}: {row['cpu_us']:.1f} µs per call (rounds {', '.join(f'{v:.1f}' for v in row['rounds'])})")
        rows.append(row)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "app_floor.json").write_text(json.dumps(rows, indent=1) + "\n")
    (args.out / "app_floor.md").write_text(render(rows, args.calls, args.rounds))
    print(f"wrote {args.out / 'app_floor.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
