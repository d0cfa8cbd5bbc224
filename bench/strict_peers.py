"""The strict benchmark's scenarios and each server's command line for one core.

Every server gets its best configuration for one core (it is pinned to one by strict.py):
one process, one I/O thread or event loop, uvloop wherever the server can use it, and
``THREADS`` threads for WSGI apps (amphicorn ``--threads``, granian ``--blocking-threads``,
gunicorn gthread ``--threads``, pyvoy ``--worker-threads``, a2wsgi and
``amphicorn.WSGIMiddleware`` through ``A2WSGI_WORKERS``). No access logs anywhere.

A scenario names its apps (``Apps``), so one set of command lines serves the hellos and the
real-app scenarios alike; a server that cannot serve a scenario's kind gets None.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from bench import HOST, HYPER_HELLO, Route, Scenario, free_port, in_turns
from bench import SCENARIOS as LOOSE

THREADS = 4


@dataclass(frozen=True)
class Apps:
    """The apps of a scenario family, as ``module:attribute`` in bench/apps/."""

    wsgi: str
    asgi: str
    # One Starlette app: the WSGI app through a2wsgi at /legacy, the ASGI app at /api.
    mixed_a2wsgi: str
    # The WSGI app alone behind Starlette's Mount, through a2wsgi / amphicorn.WSGIMiddleware.
    wsgi_a2wsgi: str
    wsgi_middleware: str
    mixed_middleware: str


HELLO_APPS = Apps(
    wsgi="wsgi_app:app",
    asgi="asgi_app:app",
    mixed_a2wsgi="starlette_app:mixed",
    wsgi_a2wsgi="starlette_app:wsgi",
    wsgi_middleware="starlette_amphicorn:wsgi",
    mixed_middleware="starlette_amphicorn:mixed",
)


REAL_APPS = Apps(
    wsgi="realapp_wsgi:app",
    asgi="realapp_asgi:app",
    mixed_a2wsgi="realapp_mixed:app",
    wsgi_a2wsgi="realapp_mixed:wsgi",
    wsgi_middleware="realapp_amphicorn:wsgi",
    mixed_middleware="realapp_amphicorn:app",
)
# The real apps' answers (bench/apps/realapp*): Django's fortunes page, FastAPI's quote.
FORTUNES_LEN = 1228
QUOTE_LEN = 629


@dataclass(frozen=True)
class StrictScenario(Scenario):
    """One of bench.py's scenarios, and the apps each server runs for it."""

    apps: Apps = HELLO_APPS

    @property
    def load(self) -> tuple[Route, ...]:
        """The routes as wrk loads them: two routes by one wrk that sends each request to the
        next route in turn, so the mix is the client's, as a user's traffic is (connections
        split between the routes would let a server choose each route's rate: starve the
        costly one and answer more requests in all)."""
        return (in_turns(self.routes),) if len(self.routes) > 1 else self.routes


def _from_loose(name: str) -> StrictScenario:
    loose = LOOSE[name]
    return StrictScenario(loose.name, loose.kind, loose.routes, loose.description)


_MIXED = _from_loose("mixed")
SCENARIOS: dict[str, StrictScenario] = {
    scenario.name: scenario
    for scenario in [
        *(_from_loose(name) for name in ("wsgi-hello", "wsgi-echo", "wsgi-stream", "asgi-hello", "asgi-echo")),
        _from_loose("asgi-stream"),
        replace(
            _MIXED,
            name="mixed-wsgi",
            routes=_MIXED.routes[:1],
            description="The mixed process (WSGI at /legacy, ASGI at /api), loaded on its WSGI hello alone",
        ),
        replace(
            _MIXED,
            name="mixed-asgi",
            routes=_MIXED.routes[1:],
            description="The mixed process, loaded on its ASGI hello alone",
        ),
        replace(
            _MIXED,
            description="WSGI app at /legacy + ASGI app at /api in one process, each request to the next in turn",
        ),
        StrictScenario(
            "real-wsgi",
            "wsgi",
            (Route("", "/fortunes", "GET", "get.lua", FORTUNES_LEN),),
            "Django: a template rendered from a SQLite query through the ORM (12 rows + 1, sorted, escaped)",
            REAL_APPS,
        ),
        StrictScenario(
            "real-asgi",
            "asgi",
            (Route("", "/items", "POST", "post_json.lua", QUOTE_LEN, "order.json"),),
            "FastAPI: a 536-byte JSON order validated by pydantic (nested lines, constraints), a JSON quote back",
            REAL_APPS,
        ),
        StrictScenario(
            "real-mixed",
            "mixed",
            (
                Route("/legacy", "/legacy/fortunes", "GET", "get.lua", FORTUNES_LEN),
                Route("/api", "/api/items", "POST", "post_json.lua", QUOTE_LEN, "order.json"),
            ),
            "The Django and FastAPI apps in one process (/legacy and /api), each request to the next in turn",
            REAL_APPS,
        ),
    ]
}


@dataclass(frozen=True)
class Pythons:
    peers: str  # the bench venv's: granian, uvicorn, ...
    amphicorn: str  # has the amphicorn being measured


def _amphicorn(scenario: StrictScenario, port: int, py: Pythons) -> list[str] | None:
    apps = scenario.apps
    command = [py.amphicorn, "-m", "amphicorn"]
    if scenario.kind == "mixed":
        command += ["--mount", f"/legacy=wsgi:{apps.wsgi}", "--mount", f"/api=asgi:{apps.asgi}"]
    else:
        command.append(f"{scenario.kind}:{getattr(apps, scenario.kind)}")
    return [*command, "--bind", f"{HOST}:{port}", "--io-threads", "1", "--threads", str(THREADS)]


def _amphicorn_metrics(scenario: StrictScenario, port: int, py: Pythons) -> list[str] | None:
    """amphicorn recording its metrics (``--admin-bind``) on the hellos: issue 14's cost."""
    if scenario.name not in ("wsgi-hello", "asgi-hello"):
        return None
    command = _amphicorn(scenario, port, py)
    return None if command is None else [*command, "--admin-bind", f"{HOST}:{free_port()}"]


def _granian(scenario: StrictScenario, port: int, py: Pythons, app: str | None = None) -> list[str] | None:
    base = [py.peers, "-m", "granian", "--host", HOST, "--port", str(port), "--workers", "1"]
    base += ["--runtime-mode", "st", "--runtime-threads", "1"]
    if app is not None:  # an ASGI app mounting both (granian+a2wsgi)
        return [*base, "--interface", "asgi", "--loop", "uvloop", app]
    if scenario.kind == "wsgi":
        return [*base, "--interface", "wsgi", "--blocking-threads", str(THREADS), scenario.apps.wsgi]
    if scenario.kind == "asgi":
        return [*base, "--interface", "asgi", "--loop", "uvloop", scenario.apps.asgi]
    return None


def _granian_a2wsgi(scenario: StrictScenario, port: int, py: Pythons) -> list[str] | None:
    return _granian(scenario, port, py, scenario.apps.mixed_a2wsgi) if scenario.kind == "mixed" else None


def _pyvoy(scenario: StrictScenario, port: int, py: Pythons) -> list[str] | None:
    pyvoy = Path(py.peers).with_name("pyvoy")
    if not pyvoy.exists():
        return None
    command = [str(pyvoy), "--address", HOST, "--port", str(port)]
    apps = scenario.apps
    if scenario.kind == "asgi":
        command += ["--interface", "asgi", "--loop", "uvloop", "--worker-threads", "1", apps.asgi]
    elif scenario.kind == "wsgi":
        command += ["--interface", "wsgi", "--worker-threads", str(THREADS), apps.wsgi]
    else:
        # --worker-threads would apply to both mounts (4 event loops for the ASGI one): each
        # keeps its default. After the app: --additional-mount takes one or more values.
        command += ["--interface", "wsgi", "--loop", "uvloop", apps.wsgi]
        command += ["--root-path", "/legacy", "--additional-mount", f"{apps.asgi}=/api=asgi"]
    # What follows `--` goes to Envoy: one Envoy worker thread, its best on one core.
    return [*command, "--", "--concurrency", "1"]


def _uvicorn_command(app: str, port: int, python: str) -> list[str]:
    command = [python, "-m", "uvicorn", app, "--host", HOST, "--port", str(port)]
    return [*command, "--loop", "uvloop", "--http", "httptools", "--no-access-log"]


def _uvicorn(scenario: StrictScenario, port: int, py: Pythons) -> list[str] | None:
    return _uvicorn_command(scenario.apps.asgi, port, py.peers) if scenario.kind == "asgi" else None


def _uvicorn_a2wsgi(scenario: StrictScenario, port: int, py: Pythons) -> list[str] | None:
    app = {"wsgi": scenario.apps.wsgi_a2wsgi, "mixed": scenario.apps.mixed_a2wsgi}.get(scenario.kind)
    return None if app is None else _uvicorn_command(app, port, py.peers)


def _uvicorn_middleware(scenario: StrictScenario, port: int, py: Pythons) -> list[str] | None:
    app = {"wsgi": scenario.apps.wsgi_middleware, "mixed": scenario.apps.mixed_middleware}.get(scenario.kind)
    return None if app is None else _uvicorn_command(app, port, py.amphicorn)


def _hypercorn(scenario: StrictScenario, port: int, py: Pythons) -> list[str] | None:
    if scenario.kind != "asgi":
        return None
    return [py.peers, "-m", "hypercorn", "-b", f"{HOST}:{port}", "--workers", "1", "-k", "uvloop", scenario.apps.asgi]


def _gunicorn(scenario: StrictScenario, port: int, py: Pythons) -> list[str] | None:
    if scenario.kind != "wsgi":
        return None
    command = [py.peers, "-m", "gunicorn", "--worker-class", "gthread", "--workers", "1"]
    return [*command, "--threads", str(THREADS), "--bind", f"{HOST}:{port}", scenario.apps.wsgi]


def _hyper(scenario: StrictScenario, port: int, py: Pythons) -> list[str] | None:
    # The ceiling: a 13-byte hello from bare tokio + hyper, one runtime thread.
    return [str(HYPER_HELLO), str(port), "1"] if scenario.name in ("wsgi-hello", "asgi-hello") else None


def _hyper_echo(scenario: StrictScenario, port: int, py: Pythons) -> list[str] | None:
    # The echoes' ceiling: the same server reads the whole 64 KiB body and sends it back.
    return [str(HYPER_HELLO), str(port), "1"] if scenario.name in ("wsgi-echo", "asgi-echo") else None


# Table order; granian (granian+a2wsgi for the mixed process) is the peer every target names.
PEERS = {
    "amphicorn": _amphicorn,
    "amphicorn+metrics": _amphicorn_metrics,
    "granian": _granian,
    "granian+a2wsgi": _granian_a2wsgi,
    "pyvoy": _pyvoy,
    "uvicorn": _uvicorn,
    "hypercorn": _hypercorn,
    "uvicorn+a2wsgi": _uvicorn_a2wsgi,
    "uvicorn+amphicorn.WSGIMiddleware": _uvicorn_middleware,
    "gunicorn": _gunicorn,
    "hyper-hello": _hyper,
    "hyper-echo": _hyper_echo,
}


def command_for(name: str, scenario: StrictScenario, port: int, pythons: Pythons) -> list[str] | None:
    """Server ``name``'s command line for ``scenario`` on ``port``, or None if it has none."""
    return PEERS[name](scenario, port, pythons)
