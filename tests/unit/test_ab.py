# ruff: noqa: RUF001 -- the table shows a missing figure with an en dash on purpose
"""The A/B of two builds (bench/ab.py): the builds take turns, each round's B is compared with
that round's A, and a change is called cheaper or dearer only when every round agrees."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from ab import compare, order, parse_args, render


def row(build: str, number: int, cpu_us: float, ok: bool = True) -> dict:
    figures = {"cpu_us": cpu_us, "rps": 1e6 / cpu_us} if ok else {"error": "died"}
    return {"case": "wsgi-hello", "kind": "256", "build": build, "round": number, "ok": ok, **figures}


def test_the_builds_take_turns_at_going_first() -> None:
    assert [order(number) for number in (1, 2, 3)] == [("a", "b"), ("b", "a"), ("a", "b")]


def test_b_below_a_in_every_round_is_cheaper() -> None:
    (entry,) = compare([row("a", 1, 10.0), row("b", 1, 9.0), row("b", 2, 9.9), row("a", 2, 11.0)])
    assert entry["verdict"] == "cheaper"
    assert entry["ratios"] == pytest.approx([0.9, 0.9])
    assert entry["a"]["cpu_us"] == pytest.approx(10.5)
    assert entry["a"]["cpu_range"] == (10.0, 11.0)


def test_b_above_a_in_every_round_is_dearer() -> None:
    (entry,) = compare([row("a", 1, 10.0), row("b", 1, 10.5), row("a", 2, 10.0), row("b", 2, 10.1)])
    assert entry["verdict"] == "dearer"


def test_rounds_that_disagree_are_within_the_noise_even_when_the_medians_differ() -> None:
    rows = [row("a", 1, 10.0), row("b", 1, 9.0), row("a", 2, 10.0), row("b", 2, 9.0)]
    rows += [row("a", 3, 10.0), row("b", 3, 10.2)]
    (entry,) = compare(rows)
    assert entry["b"]["cpu_us"] < entry["a"]["cpu_us"]
    assert entry["verdict"] == "within the noise"


def test_a_failed_run_leaves_its_round_out_of_the_ratios() -> None:
    rows = [row("a", 1, 10.0), row("b", 1, 0, ok=False), row("a", 2, 10.0), row("b", 2, 9.0)]
    (entry,) = compare(rows)
    assert entry["ratios"] == pytest.approx([0.9])
    assert entry["b"]["rounds"] == 1
    assert entry["verdict"] == "cheaper"


def test_a_build_that_always_failed_is_shown_as_such_and_nothing_is_compared() -> None:
    (entry,) = compare([row("a", 1, 10.0), row("b", 1, 0, ok=False)])
    assert entry["verdict"] == "no round to compare"
    args = parse_args(["--a", sys.executable, "--b", sys.executable, "--rounds", "2"])
    assert "| failed | – |" in render([entry], args)


def test_bad_input_names_itself_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (["--a", "/nowhere/python", "--b", sys.executable], "no such Python: --a /nowhere/python"),
        (["--a", sys.executable, "--b", sys.executable, "--only", "nope"], "unknown scenario: nope"),
        (["--a", sys.executable, "--b", sys.executable, "--connections", "x"], "--connections 'x'"),
        (["--a", sys.executable, "--b", sys.executable, "--rounds", "1"], "--rounds must be at least 2"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            parse_args(argv)
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
