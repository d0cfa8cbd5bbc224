"""Running out of file descriptors: amphicorn says so (what the limit is and how to raise it)
and serves again once connections close."""

from __future__ import annotations

from support import OUT_OF_DESCRIPTORS, RawConnection, descriptor_warning, exhaust_descriptors, low_descriptor_limit

HELLO = "apps.basic:hello"


def test_running_out_of_descriptors_is_logged_and_serving_resumes(serve):
    server = serve(HELLO, preexec_fn=low_descriptor_limit)
    held = exhaust_descriptors(server)
    try:
        descriptor_warning(server)
    finally:
        for conn in held:
            conn.close()
    # The backlog drains (each closed connection is accepted, then ends) and a new one is served.
    with RawConnection.to(server, timeout=10) as conn:
        response = conn.request("GET", "/")
        assert response.status == 200
        assert response.body == b"Hello, world!"
    # At most one warning per second, however often accept() failed (every 50 ms).
    assert server.stderr().count(OUT_OF_DESCRIPTORS) <= 3
