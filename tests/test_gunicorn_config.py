"""``--gunicorn-config`` end to end: a gunicorn.conf.py of the kind teams ship (app, binds,
workers, threads, access log, hooks) runs amphicorn with no APP on the command line; the
hooks run at their moments; GUNICORN_CMD_ARGS and flags win over the file; a refused
setting exits 2 naming it before anything binds."""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest
from support import wait_for_file

pytestmark = pytest.mark.timeout(60)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_conf(tmp_path: Path, port: int, extra: str = "") -> Path:
    hooks = tmp_path / "hooks.txt"
    path = tmp_path / "gunicorn.conf.py"
    path.write_text(
        f"""
import pathlib
wsgi_app = "apps.workers:pid"
bind = "127.0.0.1:{port}"
workers = 2
threads = 4
accesslog = "-"
timeout = 30

def _note(text):
    with pathlib.Path({str(hooks)!r}).open("a") as stream:
        stream.write(text + "\\n")

def on_starting(server):
    _note(f"on_starting {{server.cfg.workers}} {{server.app_uri}}")

def when_ready(server):
    server.log.info("ready, says the hook")
    _note("when_ready")

def on_exit(server):
    _note("on_exit")

def on_reload(server):
    _note("on_reload")

def child_exit(server, worker):
    _note(f"child_exit {{worker.pid != server.pid}} {{worker.exitcode}}")

def worker_int(worker):
    _note("worker_int")

def post_worker_init(worker):
    _note("post_worker_init")

def worker_exit(server, worker):
    _note(f"worker_exit {{worker.pid != server.pid}}")

def pre_request(worker, req):
    _note(f"pre_request {{req.method}} {{req.path}} {{req.query}}")

def post_request(worker, req, environ, resp):
    _note(f"post_request {{req.path}} {{resp.status_code}} {{resp.sent}} {{environ['PATH_INFO']}}")
{extra}"""
    )
    return path


def test_a_shipped_gunicorn_conf_serves_with_its_hooks(launched, tmp_path):
    port = free_port()
    path = write_conf(tmp_path, port)
    server = launched([sys.executable, "-m", "amphicorn", "--gunicorn-config", str(path)], ready="is ready")
    assert wait_for_file(tmp_path / "hooks.txt", lambda text: "when_ready" in text)
    assert wait_for_file(tmp_path / "hooks.txt", lambda text: text.count("post_worker_init") == 2)
    # The file's app answers on the file's bind, between the request hooks.
    response = httpx.get(f"http://127.0.0.1:{port}/?x=1", timeout=10)
    assert response.status_code == 200
    # SIGHUP: a rolling restart, announced to on_reload; each old worker's exit to child_exit.
    server.proc.send_signal(signal.SIGHUP)
    assert wait_for_file(tmp_path / "hooks.txt", lambda text: text.count("child_exit True 0") == 2, timeout=30)
    assert wait_for_file(tmp_path / "hooks.txt", lambda text: text.count("post_worker_init") == 4)
    stderr = server.stderr()
    assert "no amphicorn equivalent, ignored: timeout" in stderr
    assert "ready, says the hook" in stderr
    assert server.stop(signal.SIGTERM) == 0
    hooks = (tmp_path / "hooks.txt").read_text().splitlines()
    assert hooks[:2] == ["on_starting 2 apps.workers:pid", "when_ready"]
    assert hooks[-1] == "on_exit"
    assert hooks.count("post_worker_init") == 4
    assert hooks.count("worker_exit True") == 4
    assert hooks.count("on_reload") == 1
    assert hooks.index("on_reload") < hooks.index("child_exit True 0")
    assert hooks.count("child_exit True 0") == 4
    assert "worker_int" not in hooks  # the workers were stopped by SIGTERM
    assert "pre_request GET / x=1" in hooks
    assert f"post_request / 200 {len(response.content)} /" in hooks
    assert hooks.index("pre_request GET / x=1") < hooks.index(f"post_request / 200 {len(response.content)} /")


def test_gunicorn_cmd_args_and_flags_win_over_the_file(launched, tmp_path):
    file_port, env_port = free_port(), free_port()
    log_dict = {
        "version": 1,
        "formatters": {"tagged": {"format": "DICT-CONFIGURED %(message)s"}},
        "handlers": {"err": {"class": "logging.StreamHandler", "formatter": "tagged"}},
        "loggers": {"amphicorn": {"handlers": ["err"], "level": "INFO", "propagate": False}},
    }
    path = write_conf(tmp_path, file_port, extra=f'_note("executed")\nlogconfig_dict = {log_dict!r}')
    server = launched(
        [sys.executable, "-m", "amphicorn", "--gunicorn-config", str(path), "--workers", "1"],
        ready="Listening on",
        env={"GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{env_port}"},
    )
    assert wait_for_file(tmp_path / "hooks.txt", lambda text: "when_ready" in text)
    assert httpx.get(f"http://127.0.0.1:{env_port}/", timeout=10).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{file_port}/", timeout=2)
    # One process, one execution of the file: settings and hooks come from the same run.
    assert (tmp_path / "hooks.txt").read_text().splitlines().count("executed") == 1
    # logconfig_dict configured the logging, as gunicorn applies it.
    assert "DICT-CONFIGURED Listening on" in server.stderr()
    # Ctrl-C reaches the serving process: worker_int, then the graceful stop.
    assert server.stop(signal.SIGINT) == 0
    hooks = (tmp_path / "hooks.txt").read_text().splitlines()
    assert hooks.index("worker_int") < hooks.index("worker_exit True")


def test_daemon_is_refused_before_anything_binds(run_cli, tmp_path):
    port = free_port()
    path = write_conf(tmp_path, port, "daemon = True\n")
    result = run_cli("--gunicorn-config", str(path))
    assert result.returncode == 2
    assert "daemon = True: amphicorn does not daemonize" in result.stderr
    assert not (tmp_path / "hooks.txt").exists()
