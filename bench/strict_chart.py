# ruff: noqa: RUF001 -- the chart labels ratios with a multiplication sign on purpose
"""strict.png: the strict run's chart, one panel per connection count.

For each scenario, the median requests/s of amphicorn and its main peers on a log scale,
each bar labelled with its CPU µs per request (what a busy machine pays), and amphicorn's
bar with its ratio to granian's (granian + a2wsgi for the mixed scenarios).
"""

from __future__ import annotations

from pathlib import Path

from bench import label_bar

#: The servers drawn, in this order, with their colours (the others stay in strict.md).
DRAWN = {
    "amphicorn": "#d62728",
    "granian": "#1f77b4",
    "granian+a2wsgi": "#aec7e8",
    "pyvoy": "#ff7f0e",
    "uvicorn": "#2ca02c",
    "gunicorn": "#9467bd",
    "hyper-hello": "#7f7f7f",
    "hyper-echo": "#c7c7c7",
}


def baseline(scenario: str, kind: str, by_key: dict[tuple[str, str, str], dict]) -> dict | None:
    """granian's row for the scenario, or granian + a2wsgi's where granian alone cannot serve it."""
    for name in ("granian", "granian+a2wsgi"):
        row = by_key.get((scenario, kind, name))
        if row is not None and row["ok"]:
            return row
    return None


def render_png(summary: list[dict], scenarios: list[str], connections: list[str], path: Path) -> str | None:
    """Writes the chart; returns why it could not (None when written)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        return f"matplotlib missing: {error}"
    by_key = {(row["case"], row["kind"], row["server"]): row for row in summary}
    shown = [name for name in scenarios if any((name, count, "amphicorn") in by_key for count in connections)]
    if not shown:
        return "nothing to plot"
    fig, axes = plt.subplots(len(connections), 1, figsize=(16, 5.5 * len(connections)), squeeze=False)
    labelled: set[str] = set()
    for ax, count in zip((row[0] for row in axes), connections, strict=True):
        highest = 1.0
        for group, scenario in enumerate(shown):
            rows = [by_key.get((scenario, count, name)) for name in DRAWN]
            present = [row for row in rows if row is not None and row["ok"]]
            base = baseline(scenario, count, by_key)
            width = 0.8 / max(1, len(present))
            for index, row in enumerate(present):
                x = group + (index - (len(present) - 1) / 2) * width
                server = row["server"]
                ax.bar([x], [row["rps"]], width, color=DRAWN[server], label=None if server in labelled else server)
                labelled.add(server)
                highest = max(highest, row["rps"])
                text = f"{row['cpu_us']:.0f} µs"
                if server == "amphicorn" and base is not None:
                    text += f" · {row['rps'] / base['rps']:.2f}×"
                label_bar(ax, x, row["rps"], text)
        ax.set_xticks(range(len(shown)))
        ax.set_xticklabels(shown, fontsize=8, rotation=20)
        ax.set_yscale("log")
        ax.set_ylim(top=highest * 6)  # room for the labels above the tallest bars, and the legend
        ax.set_ylabel("requests/s (median, log scale)")
        ax.set_title(f"{count} connections: server on one core, wrk on the other", fontsize=10)
    fig.suptitle(
        "The strict benchmark. Bar labels: CPU µs per request; amphicorn's also its ratio to granian "
        "(granian + a2wsgi for the mixed scenarios)",
        fontsize=10,
    )
    handles, names = axes[0][0].get_legend_handles_labels()
    order = sorted(range(len(names)), key=lambda i: list(DRAWN).index(names[i]))
    axes[0][0].legend([handles[i] for i in order], [names[i] for i in order], fontsize=8, ncol=len(order))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
