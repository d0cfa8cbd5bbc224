"""How the strict benchmark loads a scenario (bench/strict_peers.py, bench/bench.py): one
route as it is; two routes by one wrk that takes them in turns (bench/wrk/turns.lua), each
described as the script parses it, with the body the route's check sends."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from strict_peers import SCENARIOS


def test_one_route_is_loaded_as_it_is() -> None:
    for name in ("wsgi-hello", "wsgi-echo", "real-asgi", "mixed-wsgi", "mixed-asgi"):
        assert SCENARIOS[name].load == SCENARIOS[name].routes


def test_two_routes_are_taken_in_turns_by_one_wrk() -> None:
    (real,) = SCENARIOS["real-mixed"].load
    assert real.script == "turns.lua"
    assert real.script_args == ("GET /legacy/fortunes", "POST /api/items order.json")
    assert real.path == "/legacy/fortunes"  # wrk's URL: only its host and port matter
    (hello,) = SCENARIOS["mixed"].load
    assert hello.script_args == ("GET /legacy/hello", "GET /api/hello")
