"""Running out of file descriptors under load (the server's limit lowered to 64): the server
says so clearly (what ran out, the limit, how to raise it) at most once a second, its accept
loop backs off rather than spinning, the clients it already serves go on being served for
the scenario's time while it is out, and once connections close it accepts and serves new
ones again."""

from __future__ import annotations

import re
import time

from chaos_support import SECONDS, Load, report
from support import (
    OUT_OF_DESCRIPTORS,
    ConnectionClosed,
    RawConnection,
    descriptor_warning,
    exhaust_descriptors,
    low_descriptor_limit,
    wait_until,
)

#: A warning after the first says how many accepts failed since the one before:
#: ``ACCEPT_ERROR_REPORT`` (1 s) over ``ACCEPT_BACKOFF`` (50 ms) is 20. A loop that retried
#: accept() without pausing would fail it thousands of times a second.
FAILED_ACCEPTS_RE = re.compile(r"\((\d+) failed accepts since the last warning\)")
MOST_FAILED_ACCEPTS_PER_WARNING = 40


def _served_on_a_new_connection(server) -> bool:
    try:
        with RawConnection.to(server, timeout=2) as conn:
            return conn.request("GET", "/").status == 200
    except (ConnectionClosed, OSError):
        return False


def test_descriptor_exhaustion_under_load_is_logged_and_serving_recovers(serve):
    server = serve("apps.basic:hello", preexec_fn=low_descriptor_limit)
    with Load(server.url, threads=4) as load:
        wait_until(lambda: load.count() >= 50, timeout=10, message="the load never got going")
        loaded_at = time.monotonic()
        held = exhaust_descriptors(server)
        out_at = time.monotonic()
        rate_before = load.count(since=loaded_at) / (out_at - loaded_at)
        try:
            until = out_at + SECONDS
            wait_until(lambda: time.monotonic() >= until, timeout=SECONDS + 1)
            served_while_out = load.count(since=out_at)
            out_for = time.monotonic() - out_at
        finally:
            for conn in held:
                conn.close()
        released_at = time.monotonic()
        wait_until(
            lambda: _served_on_a_new_connection(server),
            timeout=10,
            message="no new connection was served after the release",
        )
        recovered_in = time.monotonic() - released_at
        fresh = [_served_on_a_new_connection(server) for _ in range(20)]
    descriptor_warning(server)
    warnings = server.stderr().count(OUT_OF_DESCRIPTORS)
    failed_accepts = [int(count) for count in FAILED_ACCEPTS_RE.findall(server.stderr())]
    report(
        "descriptors",
        connections_held=len(held),
        out_for_s=round(out_for, 1),
        warnings=warnings,
        failed_accepts_per_warning=failed_accepts,
        requests_per_s_before=round(rate_before),
        requests_per_s_while_out=round(served_while_out / out_for),
        recovered_in_ms=round(recovered_in * 1000),
        load_failures=len(load.failures()),
    )
    assert load.failures() == [], load.failures()[:5]
    assert served_while_out >= 50, served_while_out
    assert warnings <= out_for + 2, warnings
    assert max(failed_accepts, default=0) <= MOST_FAILED_ACCEPTS_PER_WARNING, failed_accepts
    assert recovered_in < 5, recovered_in
    assert all(fresh), fresh
    assert server.proc.poll() is None
