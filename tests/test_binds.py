"""Addresses beyond HOST:PORT: Unix sockets (``unix:PATH``), inherited listening sockets
(``fd://N``) and systemd socket activation (``LISTEN_FDS``/``LISTEN_PID``), with one
process and with workers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from support import LISTENING_RE, TESTS_DIR, server_env

PID_APP = "apps.workers:pid"
WORKERS = [[], ["-w", "2"]]
WORKER_IDS = ["single-process", "workers"]


def _uds_client(path: Path) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(uds=str(path)), timeout=10)


def _short_tmp(tmp_path: Path) -> Path:
    """A directory whose paths fit a Unix socket address (108 bytes on Linux)."""
    return tmp_path if len(str(tmp_path)) < 80 else Path("/tmp")


# --- unix:PATH ---------------------------------------------------------------------------


@pytest.mark.parametrize("workers", WORKERS, ids=WORKER_IDS)
def test_unix_socket_serves_and_is_removed_on_exit(launched, tmp_path, workers):
    path = _short_tmp(tmp_path) / f"amphicorn-{os.getpid()}.sock"
    server = launched(
        [sys.executable, "-m", "amphicorn", PID_APP, "-b", f"unix:{path}", *workers],
        ready=f"Listening on unix:{path}",
    )
    with _uds_client(path) as client:
        response = client.get("http://localhost/environ")
    assert response.status_code == 200
    environ = response.json()
    # As gunicorn: the client's (unnamed) socket path, and no port.
    assert environ["REMOTE_ADDR"] == ""
    assert environ["REMOTE_PORT"] is None
    assert environ["SERVER_NAME"] == "localhost"
    assert server.stop() == 0
    assert not path.exists()


def test_unix_socket_asgi_scope_has_no_client_and_the_path_as_server(launched, tmp_path):
    path = _short_tmp(tmp_path) / f"amphicorn-asgi-{os.getpid()}.sock"
    launched(
        [sys.executable, "-m", "amphicorn", "apps.workers:asgi_scope", "-b", f"unix:{path}"],
        ready=f"Listening on unix:{path}",
    )
    with _uds_client(path) as client:
        scope = client.get("http://localhost/").json()
    assert scope["client"] is None
    assert scope["server"] == [str(path), None]


def test_unix_socket_replaces_a_stale_socket_file_but_not_a_regular_file(launched, run_cli, tmp_path):
    stale = _short_tmp(tmp_path) / f"amphicorn-stale-{os.getpid()}.sock"
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(str(stale))
    leftover.close()  # the file stays, as after a crash
    launched([sys.executable, "-m", "amphicorn", PID_APP, "-b", f"unix:{stale}"], ready="Listening on unix:")
    with _uds_client(stale) as client:
        assert client.get("http://localhost/").status_code == 200

    regular = tmp_path / "not-a-socket"
    regular.write_text("keep me")
    result = run_cli(PID_APP, "-b", f"unix:{regular}")
    assert result.returncode == 1, result
    assert f"unix:{regular}" in result.stderr
    assert regular.read_text() == "keep me"


# --- fd://N ------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", WORKERS, ids=WORKER_IDS)
def test_inherited_listening_socket_by_descriptor(launched, workers):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        fd = listener.fileno()
        server = launched(
            [sys.executable, "-m", "amphicorn", PID_APP, "-b", f"fd://{fd}", *workers],
            pass_fds=(fd,),
            ready=f"Listening on http://127.0.0.1:{port}",
        )
    # Our copy is closed: only the server's inherited descriptor keeps the port open.
    response = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
    assert response.status_code == 200
    assert server.stop() == 0


def test_descriptor_that_is_not_a_listening_socket_is_refused(run_cli, tmp_path):
    with open(tmp_path / "file", "w") as file:
        fd = file.fileno()
        proc = subprocess.run(
            [sys.executable, "-m", "amphicorn", PID_APP, "-b", f"fd://{fd}"],
            cwd=TESTS_DIR,
            env=server_env(),
            capture_output=True,
            text=True,
            timeout=30,
            pass_fds=(fd,),
        )
    assert proc.returncode == 1, proc.stderr
    assert f"fd://{fd}" in proc.stderr
    result = run_cli(PID_APP, "-b", "fd://987")
    assert result.returncode == 1, result
    assert "fd://987" in result.stderr


# --- systemd socket activation -----------------------------------------------------------


def _activated(args: list[str], listener: socket.socket, *, pid_matches: bool = True) -> list[str]:
    """A command that puts ``listener`` at descriptor 3 and sets LISTEN_FDS/LISTEN_PID, as
    systemd does, then becomes amphicorn (``exec`` keeps the process id)."""
    pid = "os.getpid()" if pid_matches else "1"
    script = (
        f"import os, sys; os.dup2({listener.fileno()}, 3); "
        f"os.environ.update(LISTEN_FDS='1', LISTEN_PID=str({pid})); os.execv(sys.argv[1], sys.argv[1:])"
    )
    return [sys.executable, "-c", script, *args]


@pytest.mark.parametrize("workers", WORKERS, ids=WORKER_IDS)
def test_systemd_socket_activation(launched, workers):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        args = [sys.executable, "-m", "amphicorn", PID_APP, "-b", "127.0.0.1:0", *workers]
        server = launched(
            _activated(args, listener), pass_fds=(listener.fileno(),), ready=f"Listening on http://127.0.0.1:{port}"
        )
    assert "socket(s) from systemd socket activation" in server.stderr()
    assert len(LISTENING_RE.findall(server.stderr())) == 1, server.stderr()  # not also -b 127.0.0.1:0
    assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200
    assert server.stop() == 0


def test_listen_fds_for_another_process_is_ignored(launched):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        args = [sys.executable, "-m", "amphicorn", PID_APP, "-b", "127.0.0.1:0"]
        server = launched(
            _activated(args, listener, pid_matches=False), pass_fds=(listener.fileno(),), ready="Listening on"
        )
        port = listener.getsockname()[1]
    assert f":{port}" not in server.stderr()
    assert server.stop() == 0
