# ruff: noqa: RUF001 -- ratios print with a multiplication sign on purpose
"""Issue 17's targets, checked against one strict run (and issue 14's cost of metrics).

Each target compares two medians of the same run: amphicorn's requests/s (or CPU per
request, or peak RSS) with a peer's, per scenario and connection count. In a scenario with
two routes loaded at once, requests/s are compared route by route: a server may answer
many cheap requests on one route while it starves the other, and the total would reward
it. A target whose rows did not run (a server left out with ``--servers``, a scenario with
``--only``) is listed as not measured rather than passed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from strict_peers import SCENARIOS

Summary = dict[tuple[str, str, str], dict]


@dataclass(frozen=True)
class Target:
    """``ours`` (case, server) against ``theirs`` (case, server), by ``measure``, at least ``bound``."""

    text: str
    ours: tuple[str, str]
    theirs: tuple[str, str]
    bound: float
    # rps (or "route PATH": that route's): ours/theirs >= bound; cpu_us, peak_rss_mib: theirs/ours >= bound
    measure: str = "rps"


def _by_rate(text: str, ours: tuple[str, str], theirs: tuple[str, str], bound: float) -> Iterator[Target]:
    """Requests/s of ``ours`` against ``theirs``: as a whole, or route by route when the
    scenario loads two routes at once (the same scenario on both sides)."""
    routes = SCENARIOS[ours[0]].routes if ours[0] in SCENARIOS else ()
    if len(routes) < 2 or ours[0] != theirs[0]:
        yield Target(text, ours, theirs, bound)
        return
    for route in routes:
        yield Target(f"{text}, {route.path}", ours, theirs, bound, f"route {route.path}")


def _targets() -> Iterator[Target]:
    for case in ("wsgi-hello", "wsgi-echo", "asgi-hello", "asgi-echo"):
        yield Target(f"{case} ≥ 1.2× granian", (case, "amphicorn"), (case, "granian"), 1.2)
    for case in ("wsgi-stream", "asgi-stream"):
        yield Target(f"{case} (1 MiB) ≥ 1.1× granian", (case, "amphicorn"), (case, "granian"), 1.1)
    for kind in ("wsgi", "asgi"):
        yield Target(
            f"mixed process, {kind.upper()} route ≥ 1.0× granian's pure {kind.upper()} hello",
            (f"mixed-{kind}", "amphicorn"),
            (f"{kind}-hello", "granian"),
            1.0,
        )
    yield from _by_rate(
        "mixed process ≥ 1.0× granian + a2wsgi", ("mixed", "amphicorn"), ("mixed", "granian+a2wsgi"), 1.0
    )
    for case, peer in (("real-wsgi", "granian"), ("real-asgi", "granian"), ("real-mixed", "granian+a2wsgi")):
        yield from _by_rate(f"{case} ≥ 1.05× {peer}", (case, "amphicorn"), (case, peer), 1.05)
    yield Target(
        "WSGI hello CPU per request ≤ 1.4× the bare hyper hello's",
        ("wsgi-hello", "amphicorn"),
        ("wsgi-hello", "hyper-hello"),
        1 / 1.4,
        "cpu_us",
    )
    yield Target(
        "uvicorn + amphicorn.WSGIMiddleware ≥ 3× uvicorn + a2wsgi (WSGI hello)",
        ("wsgi-hello", "uvicorn+amphicorn.WSGIMiddleware"),
        ("wsgi-hello", "uvicorn+a2wsgi"),
        3.0,
    )
    for case in ("wsgi-hello", "asgi-hello"):
        yield Target(
            f"{case}: metrics on (--admin-bind) cost ≤ 3% (issue 14)",
            (case, "amphicorn+metrics"),
            (case, "amphicorn"),
            0.97,
        )


def _every_case(by_key: Summary, server: str, bound: float, measure: str, text: str) -> Iterator[Target]:
    """A target for every scenario the peer ran (mixed ones against its mixed form)."""
    for case in sorted({case for case, _, name in by_key if name == server}):
        if measure == "rps":
            yield from _by_rate(f"{case} {text}", (case, "amphicorn"), (case, server), bound)
        else:
            yield Target(f"{case} {text}", (case, "amphicorn"), (case, server), bound, measure)


def _value(row: dict | None, measure: str) -> float | None:
    if not row or not row["ok"]:
        return None
    if measure.startswith("route "):
        return row["route_rps"].get(measure.removeprefix("route "))
    return row[measure]


def _check(target: Target, by_key: Summary, count: str) -> tuple[str, bool | None]:
    ours = _value(by_key.get((target.ours[0], count, target.ours[1])), target.measure)
    theirs = _value(by_key.get((target.theirs[0], count, target.theirs[1])), target.measure)
    if ours is None or theirs is None or not ours or not theirs:
        return "not measured", None
    lower_is_better = target.measure in ("cpu_us", "peak_rss_mib")
    ratio = theirs / ours if lower_is_better else ours / theirs
    if not lower_is_better:
        return f"{ratio:.2f}×", ratio >= target.bound
    # Lower is better: say how much of the peer's figure amphicorn's is.
    return f"{1 / ratio:.2f}× theirs ({ours:.1f} vs {theirs:.1f})", ratio >= target.bound


def render_targets(by_key: Summary, counts: list[str]) -> list[str]:
    """The markdown section: every target at every connection count, met or not."""
    lines = ["## Targets (issue 17)", "", "| target | " + " | ".join(f"{c} conns" for c in counts) + " |"]
    lines.append("|---|" + "---|" * len(counts))
    extra: list[Callable[[Summary], Iterator[Target]]] = [
        lambda summary: _every_case(summary, "pyvoy", 1.5, "rps", "≥ 1.5× pyvoy"),
        lambda summary: _every_case(summary, "granian", 1.0, "peak_rss_mib", "peak RSS ≤ granian's"),
        lambda summary: _every_case(summary, "granian+a2wsgi", 1.0, "peak_rss_mib", "peak RSS ≤ granian + a2wsgi's"),
    ]
    targets = list(_targets()) + [target for make in extra for target in make(by_key)]
    met = missed = 0
    for target in targets:
        cells = []
        for count in counts:
            shown, passed = _check(target, by_key, count)
            cells.append(shown if passed is None else f"{shown} {'met' if passed else '**missed**'}")
            met += passed is True
            missed += passed is False
        lines.append(f"| {target.text} | " + " | ".join(cells) + " |")
    return [*lines, "", f"{met} met, {missed} missed.", ""]
