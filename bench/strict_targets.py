# ruff: noqa: RUF001 -- ratios print with a multiplication sign on purpose
"""Issue 17's targets, checked against one strict run (and issue 14's cost of metrics).

Each target compares two medians of the same run: amphicorn's requests/s (or CPU per
request, or peak RSS) with a peer's, per scenario and connection count. A scenario with two
routes (the mixed process under both) is compared as a whole: its client sends each request
to the next route in turn (``StrictScenario.load``), so every server answers the same mix,
and one that starved a route would hold its connections and answer fewer requests in all.
A target whose rows did not run (a server left out with ``--servers``, a scenario with
``--only``) is listed as not measured rather than passed.

The servers ran in turn in every round, so each round also gives a ratio of its own. When
the bound lies within the rounds' ratios (some rounds met it, some did not), the target is
**undecided** rather than met or missed: on a noisy machine the medians' ratio alone would
say whichever way the noise fell. More rounds (``--rounds``) or a quieter machine decide it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

Summary = dict[tuple[str, str, str], dict]


@dataclass(frozen=True)
class Target:
    """``ours`` (case, server) against ``theirs`` (case, server), by ``measure``, at least ``bound``."""

    text: str
    ours: tuple[str, str]
    theirs: tuple[str, str]
    bound: float
    # rps: ours/theirs >= bound; cpu_us, peak_rss_mib: theirs/ours >= bound
    measure: str = "rps"

    @property
    def lower_is_better(self) -> bool:
        return self.measure in ("cpu_us", "peak_rss_mib")


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
    yield Target("mixed process ≥ 1.0× granian + a2wsgi", ("mixed", "amphicorn"), ("mixed", "granian+a2wsgi"), 1.0)
    for case, peer in (("real-wsgi", "granian"), ("real-asgi", "granian"), ("real-mixed", "granian+a2wsgi")):
        yield Target(f"{case} ≥ 1.05× {peer}", (case, "amphicorn"), (case, peer), 1.05)
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
        yield Target(f"{case} {text}", (case, "amphicorn"), (case, server), bound, measure)


def _value(row: dict | None, measure: str) -> float | None:
    if not row or not row["ok"]:
        return None
    return row[measure]


def _ratio(ours: float | None, theirs: float | None, target: Target) -> float | None:
    """How far ahead amphicorn is, ``bound``'s way round (higher is better)."""
    if not ours or not theirs:
        return None
    return theirs / ours if target.lower_is_better else ours / theirs


def _round_ratios(target: Target, ours: dict, theirs: dict) -> list[float]:
    """The ratio in each round both servers ran well (they ran in turn, so on the same
    machine's same minute)."""
    ratios = []
    for number, figures in ours.get("rounds", {}).items():
        if number in theirs.get("rounds", {}):
            ratio = _ratio(_value(figures, target.measure), _value(theirs["rounds"][number], target.measure), target)
            if ratio is not None:
                ratios.append(ratio)
    return ratios


def _check(target: Target, by_key: Summary, count: str) -> tuple[str, str | None]:
    """What the cell shows and the verdict: "met", "missed", "undecided" (the bound lies
    within the rounds' ratios: the medians' ratio alone would say whichever way this
    machine's noise fell), or None (not measured)."""
    ours_row, theirs_row = (
        by_key.get((target.ours[0], count, target.ours[1])),
        by_key.get((target.theirs[0], count, target.theirs[1])),
    )
    ours, theirs = _value(ours_row, target.measure), _value(theirs_row, target.measure)
    ratio = _ratio(ours, theirs, target)
    if ours is None or theirs is None or ratio is None:
        return "not measured", None
    # Lower is better: say how much of the peer's figure amphicorn's is.
    shown = f"{1 / ratio:.2f}× theirs ({ours:.1f} vs {theirs:.1f})" if target.lower_is_better else f"{ratio:.2f}×"
    rounds = _round_ratios(target, ours_row or {}, theirs_row or {})
    if len(rounds) > 1 and min(rounds) < target.bound <= max(rounds):
        low, high = (1 / max(rounds), 1 / min(rounds)) if target.lower_is_better else (min(rounds), max(rounds))
        return f"{shown}, rounds {low:.2f}–{high:.2f}: undecided", "undecided"
    if ratio >= target.bound:
        return f"{shown} met", "met"
    return f"{shown} **missed**", "missed"


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
    verdicts = {"met": 0, "missed": 0, "undecided": 0}
    for target in targets:
        cells = []
        for count in counts:
            shown, verdict = _check(target, by_key, count)
            cells.append(shown)
            if verdict is not None:
                verdicts[verdict] += 1
        lines.append(f"| {target.text} | " + " | ".join(cells) + " |")
    counted = f"{verdicts['met']} met, {verdicts['missed']} missed"
    if verdicts["undecided"]:
        counted += f", {verdicts['undecided']} undecided (the bound lies within the rounds' ratios)"
    return [*lines, "", f"{counted}.", ""]
