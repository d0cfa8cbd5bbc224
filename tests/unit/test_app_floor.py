"""The apps alone (bench/app_floor.py): each scenario's app called in-process, every answer
checked, and its CPU per call. A wrong answer (a status other than 200, a body of another
length) stops the measurement instead of timing it."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "apps"))

from app_floor import measure
from strict_peers import SCENARIOS


@pytest.mark.parametrize("name", ["wsgi-hello", "asgi-hello"])
def test_a_hello_costs_some_cpu_per_call(name: str) -> None:
    row = measure(SCENARIOS[name], calls=50, rounds=2)
    assert row["case"] == name
    assert len(row["rounds"]) == 2
    assert 0 < row["cpu_us"] < 10_000


@pytest.mark.parametrize("name", ["wsgi-hello", "asgi-hello"])
def test_a_body_of_another_length_stops_the_measurement(name: str) -> None:
    scenario = SCENARIOS[name]
    (route,) = scenario.routes
    longer = replace(scenario, routes=(replace(route, expect_len=route.expect_len + 1),))
    with pytest.raises(RuntimeError, match="a body of 13 bytes, expected 14"):
        measure(longer, calls=5, rounds=1)


def test_a_status_other_than_200_stops_the_measurement() -> None:
    scenario = SCENARIOS["real-asgi"]
    (route,) = scenario.routes
    missing = replace(scenario, routes=(replace(route, path="/nowhere"),))
    with pytest.raises(RuntimeError, match=r"/nowhere: .*404"):
        measure(missing, calls=5, rounds=1)


def test_the_real_apps_in_turns(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Django (over SQLite, with an event loop running, which the floor allows it as its
    main() does) and FastAPI, taken in turns as real-mixed's load takes them."""
    monkeypatch.setenv("REALAPP_DB", str(tmp_path / "fortunes.sqlite3"))
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    row = measure(SCENARIOS["real-mixed"], calls=6, rounds=1)
    assert 0 < row["cpu_us"] < 1_000_000
