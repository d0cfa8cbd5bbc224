"""``amphicorn --migration-report URL``: what still runs on the old app, as a table.

It reads ``GET /status`` from a running server's admin listener (``URL`` is the admin
listener's base, e.g. ``http://127.0.0.1:9000``, or its ``/status`` itself) and prints, for
each mount with a migration fallback, how many requests the fallback answered in its place
and the paths it answered, normalised (``/users/{int}``) and most frequent first: the routes
left to port. The same figures are in ``/status`` for ``curl`` and in the metrics
(``amphicorn_fallback_answers_total``).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from amphicorn.errors import AmphicornError

#: Seconds to wait for the admin listener.
TIMEOUT = 10.0
#: The status classes of a path's answers, as ``/status`` names them.
CLASSES = ("2xx", "3xx", "4xx", "5xx")


class ReportError(AmphicornError):
    """The admin listener could not be read (exit status 1)."""


def fetch(url: str) -> dict[str, Any]:
    """The ``/status`` document at ``url`` (``/status`` is added to a base URL)."""
    if not url.rstrip("/").endswith("/status"):
        url = url.rstrip("/") + "/status"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            document = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise ReportError(f"--migration-report {url!r}: cannot read it: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("mounts"), dict):
        raise ReportError(f"--migration-report {url!r}: not an amphicorn /status document")
    return document


def render(status: dict[str, Any]) -> str:
    """The report of a ``/status`` document."""
    pairs = [(point, mount) for point, mount in status["mounts"].items() if "fallback_replays" in mount]
    if not pairs:
        return "No mount has a fallback: nothing runs on an old app in its place."
    lines: list[str] = []
    for point, mount in pairs:
        answered = mount["requests"]["total"]
        replays = mount["fallback_replays"]
        share = f"{replays / (answered + replays):.1%}" if answered + replays else "-"
        lines.append(f"Mount {point}: {replays} request(s) answered by its fallback ({share} of its requests)")
        paths = mount.get("fallback_paths") or []
        if not paths:
            lines.append("  (no path yet)")
            lines.append("")
            continue
        width = max(len("path"), *(len(entry["path"]) for entry in paths))
        header = f"  {'path':<{width}}  {'count':>8}  " + "  ".join(f"{c:>6}" for c in CLASSES)
        lines.append(header)
        for entry in paths:
            count = f"{entry['count']}" + ("~" if entry.get("error") else "")
            classes = "  ".join(f"{entry.get(c, 0):>6}" for c in CLASSES)
            lines.append(f"  {entry['path']:<{width}}  {count:>8}  {classes}")
        lines.append("")
    if any(entry.get("error") for _, mount in pairs for entry in mount.get("fallback_paths") or []):
        lines.append("~: approximate (more paths than are kept; the count may be over by the entry's error)")
    return "\n".join(lines).rstrip() + "\n"
