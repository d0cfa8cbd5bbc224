# ruff: noqa: RUF001 -- the targets print ratios with a multiplication sign
"""The strict benchmark's target checks (bench/strict_targets.py): which way each ratio
goes (more requests/s is better; less CPU per request and less RSS are better), and that a
target whose rows did not run is not counted as met."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from strict_targets import render_targets


def _row(rps: float, cpu_us: float, rss: float) -> dict:
    return {"ok": True, "rps": rps, "cpu_us": cpu_us, "peak_rss_mib": rss}


def _line(lines: list[str], start: str) -> str:
    return next(line for line in lines if line.startswith(f"| {start}"))


def test_requests_per_second_must_reach_the_bound() -> None:
    summary = {
        ("wsgi-hello", "64", "amphicorn"): _row(12_000, 20, 30),
        ("wsgi-hello", "64", "granian"): _row(10_000, 25, 60),
        ("asgi-hello", "64", "amphicorn"): _row(12_500, 20, 30),
        ("asgi-hello", "64", "granian"): _row(10_000, 25, 60),
    }
    lines = render_targets(summary, ["64"])
    assert _line(lines, "wsgi-hello ≥ 1.2× granian") == "| wsgi-hello ≥ 1.2× granian | 1.20× met |"
    assert _line(lines, "asgi-hello ≥ 1.2× granian") == "| asgi-hello ≥ 1.2× granian | 1.25× met |"
    summary[("wsgi-hello", "64", "amphicorn")] = _row(11_900, 20, 30)
    assert "**missed**" in _line(render_targets(summary, ["64"]), "wsgi-hello ≥ 1.2× granian")


def test_cpu_and_memory_are_better_lower() -> None:
    summary = {
        ("wsgi-hello", "64", "amphicorn"): _row(10_000, 14, 30),
        ("wsgi-hello", "64", "hyper-hello"): _row(50_000, 10, 5),
        ("wsgi-hello", "64", "granian"): _row(10_000, 14, 29),
    }
    lines = render_targets(summary, ["64"])
    assert _line(lines, "WSGI hello CPU per request").endswith("1.40× theirs (14.0 vs 10.0) met |")
    assert _line(lines, "wsgi-hello peak RSS ≤ granian's").endswith("**missed** |")
    summary[("wsgi-hello", "64", "amphicorn")] = _row(10_000, 14.5, 29)
    lines = render_targets(summary, ["64"])
    assert _line(lines, "WSGI hello CPU per request").endswith("**missed** |")
    assert _line(lines, "wsgi-hello peak RSS ≤ granian's").endswith(" met |")


def test_a_target_whose_rows_did_not_run_is_not_measured() -> None:
    summary = {
        ("wsgi-echo", "64", "amphicorn"): _row(5_000, 40, 30),
        ("wsgi-echo", "64", "granian"): {"ok": False, "error": "exited"},
    }
    lines = render_targets(summary, ["64", "256"])
    assert _line(lines, "wsgi-echo ≥ 1.2× granian") == "| wsgi-echo ≥ 1.2× granian | not measured | not measured |"
    assert lines[-2] == "0 met, 0 missed."


def _rounds(row: dict, *rps: float) -> dict:
    return {**row, "rounds": {number: {**row, "rps": value} for number, value in enumerate(rps)}}


def test_a_bound_within_the_rounds_ratios_is_undecided() -> None:
    granian = _rounds(_row(10_000, 25, 60), 10_000, 10_000, 10_000)
    summary = {
        ("wsgi-hello", "64", "amphicorn"): _rounds(_row(12_500, 20, 30), 12_500, 11_000, 13_000),
        ("wsgi-hello", "64", "granian"): granian,
    }
    line = _line(render_targets(summary, ["64"]), "wsgi-hello ≥ 1.2× granian")
    assert line == "| wsgi-hello ≥ 1.2× granian | 1.25×, rounds 1.10–1.30: undecided |"
    lines = render_targets(summary, ["64"])
    # (and peak RSS met)
    assert lines[-2] == "1 met, 0 missed, 1 undecided (the bound lies within the rounds' ratios)."
    # Every round at or past the bound: met; every round short of it: missed.
    summary[("wsgi-hello", "64", "amphicorn")] = _rounds(_row(12_500, 20, 30), 12_500, 12_000, 13_000)
    assert _line(render_targets(summary, ["64"]), "wsgi-hello ≥ 1.2× granian").endswith("| 1.25× met |")
    summary[("wsgi-hello", "64", "amphicorn")] = _rounds(_row(11_500, 20, 30), 11_500, 11_000, 11_900)
    assert _line(render_targets(summary, ["64"]), "wsgi-hello ≥ 1.2× granian").endswith("**missed** |")


def test_rounds_of_cpu_per_request_are_shown_as_amphicorn_s_share() -> None:
    def cpu_rounds(row: dict, *cpu: float) -> dict:
        return {**row, "rounds": {number: {**row, "cpu_us": value} for number, value in enumerate(cpu)}}

    summary = {
        ("wsgi-hello", "64", "amphicorn"): cpu_rounds(_row(10_000, 14, 30), 14, 12, 16),
        ("wsgi-hello", "64", "hyper-hello"): cpu_rounds(_row(50_000, 10, 5), 10, 10, 10),
    }
    line = _line(render_targets(summary, ["64"]), "WSGI hello CPU per request")
    assert line.endswith("1.40× theirs (14.0 vs 10.0), rounds 1.20–1.60: undecided |")


def test_the_mixed_scenarios_are_compared_as_a_whole() -> None:
    """Their client takes the two routes in turns, so the total is every server's same mix."""
    summary = {
        ("real-mixed", "64", "amphicorn"): _row(2_800, 350, 90),
        ("real-mixed", "64", "granian+a2wsgi"): _row(1_600, 600, 100),
    }
    lines = render_targets(summary, ["64"])
    assert _line(lines, "real-mixed ≥ 1.05× granian+a2wsgi") == "| real-mixed ≥ 1.05× granian+a2wsgi | 1.75× met |"
    summary[("real-mixed", "64", "amphicorn")] = _row(1_650, 590, 90)
    assert "**missed**" in _line(render_targets(summary, ["64"]), "real-mixed ≥ 1.05× granian+a2wsgi")
