"""Running out of file descriptors: amphicorn says so (what the limit is and how to raise it)
and serves again once connections close."""

from __future__ import annotations

import resource

from support import RawConnection

HELLO = "apps.basic:hello"
#: Enough for the interpreter, the runtime and a few connections, few enough to run out fast.
DESCRIPTOR_LIMIT = 64


def _low_descriptor_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTOR_LIMIT, DESCRIPTOR_LIMIT))


def test_running_out_of_descriptors_is_logged_and_serving_resumes(serve):
    server = serve(HELLO, preexec_fn=_low_descriptor_limit)
    held: list[RawConnection] = []
    try:
        # Each connection the server accepts holds one of its descriptors; keep opening them
        # until accept() fails (the connections past the limit wait in the listen backlog).
        while not server.wait_for_stderr("Out of file descriptors", timeout=0.05):
            assert len(held) < 4 * DESCRIPTOR_LIMIT, f"no warning after {len(held)} connections"
            held.append(RawConnection.to(server))
        stderr = server.stderr()
        line = next(line for line in stderr.splitlines() if "Out of file descriptors" in line)
        assert "EMFILE" in line
        assert f"used all {DESCRIPTOR_LIMIT} descriptors" in line
        assert "ulimit -n" in line
    finally:
        for conn in held:
            conn.close()
    # The backlog drains (each closed connection is accepted, then ends) and a new one is served.
    with RawConnection.to(server, timeout=10) as conn:
        response = conn.request("GET", "/")
        assert response.status == 200
        assert response.body == b"Hello, world!"
    # At most one warning per second, however often accept() failed (every 50 ms).
    assert server.stderr().count("Out of file descriptors") <= 3
