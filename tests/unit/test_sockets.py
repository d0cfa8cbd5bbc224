"""What ``Listeners.refuse_new`` does to each kind of listening socket in the process that
calls it (amphicorn/sockets.py): the supervisor's side of a graceful stop. The workers' side
(each closes its copy as it stops accepting) is tested end to end in test_workers.py."""

from __future__ import annotations

import os
import socket

import pytest
from amphicorn.binds import Bind
from amphicorn.sockets import listen_all


def fate(client: socket.socket) -> str:
    """What a connected client learns within 2 s: "reset", "closed", "answered" or "waiting"."""
    client.settimeout(2.0)
    try:
        return "answered" if client.recv(64) else "closed"
    except ConnectionResetError:
        return "reset"
    except TimeoutError:
        return "waiting"


def test_a_unix_socket_we_bound_is_closed_its_file_removed_and_its_queue_reset(tmp_path):
    path = tmp_path / "ours.sock"
    listeners = listen_all([Bind.parse(f"unix:{path}")], backlog=8, environ={})
    with socket.socket(socket.AF_UNIX) as queued:
        queued.connect(str(path))
        queued.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        listeners.refuse_new()
        # This process held the only copy: closing it resets the client nobody accepted.
        assert fate(queued) in ("reset", "closed")
    assert not path.exists()
    assert listeners.sockets == []
    listeners.close()


def test_a_borrowed_unix_socket_keeps_listening(tmp_path):
    path = tmp_path / "theirs.sock"
    with socket.socket(socket.AF_UNIX) as owner:
        owner.bind(str(path))
        owner.listen(8)
        # As a parent process leaves it open for `fd://N`.
        inherited = os.dup(owner.fileno())
        listeners = listen_all([Bind.parse(f"fd://{inherited}")], backlog=8, environ={})
        listeners.refuse_new()
        assert [sock.fileno() for sock in listeners.sockets] == [inherited]
        assert path.exists()
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(str(path))
            accepted, _ = owner.accept()
            accepted.close()
        listeners.close()


def test_a_tcp_socket_is_shut_down_and_its_queue_reset():
    listeners = listen_all([Bind.parse("127.0.0.1:0")], backlog=8, environ={})
    port = listeners.sockets[0].getsockname()[1]
    with socket.create_connection(("127.0.0.1", port)) as queued:
        listeners.refuse_new()
        assert fate(queued) in ("reset", "closed")
    assert len(listeners.sockets) == 1
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5.0).close()
    listeners.close()
