"""``--gunicorn-config``: a gunicorn.conf.py (and GUNICORN_CMD_ARGS) turned into amphicorn's
settings, in-process: what carries over, what wins over what, what is refused or ignored.
Nothing binds; each test runs in its own empty directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from amphicorn import gunicorn_config, gunicorn_hooks
from amphicorn.cli import build_parser, config_from_args, load_sources
from amphicorn.config import Bind
from amphicorn.errors import ConfigError


@pytest.fixture(autouse=True)
def _empty_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def conf(tmp_path: Path, text: str) -> str:
    path = tmp_path / "gunicorn.conf.py"
    path.write_text(text)
    return str(path)


def parse(*argv: str, env: dict[str, str] | None = None):
    return config_from_args(build_parser().parse_args(list(argv)), env or {})


SHIPPED = """
import multiprocessing
wsgi_app = "mysite.wsgi:application"
bind = ["0.0.0.0:8000", "unix:/run/site.sock"]
workers = multiprocessing.cpu_count() * 0 + 3
threads = 8
keepalive = 4
graceful_timeout = 45
max_requests = 1000
max_requests_jitter = 50
forwarded_allow_ips = "10.0.0.1,10.0.0.2"
accesslog = "-"
loglevel = "warning"
pidfile = "/tmp/site.pid"
"""


def test_a_shipped_configuration_carries_over(tmp_path):
    config = parse("--gunicorn-config", conf(tmp_path, SHIPPED))
    assert config.app == "mysite.wsgi:application"
    assert config.binds == [Bind("0.0.0.0", 8000), Bind.parse("unix:/run/site.sock")]
    assert (config.workers, config.threads, config.timeout_keep_alive) == (3, 8, 4)
    assert (config.graceful_timeout, config.limit_max_requests, config.limit_max_requests_jitter) == (45, 1000, 50)
    assert config.forwarded_allow_ips == ["10.0.0.1", "10.0.0.2"]
    assert (config.access_log, config.log_level, config.pid_file) == (True, "warning", "/tmp/site.pid")


def test_flags_and_gunicorn_cmd_args_win_in_gunicorns_order(tmp_path):
    path = conf(tmp_path, SHIPPED)
    env = {"GUNICORN_CMD_ARGS": "--workers 5 --bind 127.0.0.1:9000 --log-level info"}
    config = parse("--gunicorn-config", path, "--threads", "2", env=env)
    # GUNICORN_CMD_ARGS over the file, a flag over both.
    assert (config.workers, config.binds, config.log_level, config.threads) == (5, [Bind("127.0.0.1", 9000)], "info", 2)
    # The app on the command line wins over wsgi_app.
    assert parse("--gunicorn-config", path, "other:app").app == "other:app"


def test_amphicorns_own_config_file_wins_over_the_gunicorn_file(tmp_path):
    (tmp_path / "amphicorn.toml").write_text("workers = 7\n")
    config = parse("--config", str(tmp_path / "amphicorn.toml"), "--gunicorn-config", conf(tmp_path, SHIPPED))
    assert config.workers == 7
    assert config.threads == 8


def test_a_bad_value_names_the_gunicorn_file_and_key(tmp_path):
    path = conf(tmp_path, "wsgi_app = 'a:b'\nworkers = 'many'\n")
    with pytest.raises(ConfigError, match=r"gunicorn\.conf\.py: workers 'many'"):
        parse("--gunicorn-config", path)


@pytest.mark.parametrize(
    ("line", "named"),
    [("daemon = True", "daemon"), ("user = 'nobody'", "user"), ("umask = 0o22", "umask")],
)
def test_dangerous_settings_are_refused_by_name(tmp_path, line, named):
    with pytest.raises(ConfigError, match=rf"{named} = .*: amphicorn does not"):
        parse("--gunicorn-config", conf(tmp_path, f"wsgi_app = 'a:b'\n{line}\n"))


def test_settings_without_an_equivalent_are_named_in_one_warning(tmp_path):
    path = conf(
        tmp_path,
        "wsgi_app = 'a:b'\ntimeout = 30\nworker_class = 'gevent'\naccesslog = '/var/log/a.log'\n"
        "def worker_abort(worker):\n    pass\n",
    )
    sources = load_sources(build_parser().parse_args(["--gunicorn-config", path]), {})
    assert sources.gunicorn is not None
    warning = sources.gunicorn.warning()
    assert warning is not None
    for named in ("timeout", "worker_class ('gevent'", "accesslog (to '/var/log/a.log'", "worker_abort (hook)"):
        assert named in warning


def test_request_limits_bound_the_head(tmp_path):
    path = conf(tmp_path, "wsgi_app = 'a:b'\nlimit_request_line = 8190\nlimit_request_fields = 50\n")
    assert parse("--gunicorn-config", path).max_header_size == 8190 + 50 * 8190


def test_raw_env_and_tls(tmp_path, monkeypatch):
    monkeypatch.delenv("SITE_MODE", raising=False)
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    path = conf(
        tmp_path,
        f"wsgi_app = 'a:b'\nraw_env = ['SITE_MODE=prod']\ncertfile = {str(cert)!r}\nkeyfile = {str(cert)!r}\n",
    )
    sources = load_sources(build_parser().parse_args(["--gunicorn-config", path]), {})
    assert os.environ["SITE_MODE"] == "prod"
    assert sources.gunicorn is not None
    assert sources.gunicorn.get("ssl-certfile") == str(cert)


def test_a_file_that_fails_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="executing it failed: ZeroDivisionError"):
        parse("--gunicorn-config", conf(tmp_path, "workers = 1 / 0\n"))


def test_hooks_get_a_server_view_and_a_failing_one_is_logged(tmp_path, caplog):
    seen = tmp_path / "seen.txt"
    path = conf(
        tmp_path,
        "wsgi_app = 'a:b'\nworkers = 2\n"
        "def on_starting(server):\n"
        "    import pathlib\n"
        f"    pathlib.Path({str(seen)!r}).write_text(f'{{server.cfg.workers}} {{server.app_uri}} {{server.pid}}')\n"
        "    server.log.info('starting from the hook')\n"
        "def on_exit(server):\n    raise RuntimeError('hook broke')\n",
    )
    settings = gunicorn_config.load(path, {})
    gunicorn_hooks.call_hook(settings, "on_starting", "a:b")
    assert seen.read_text() == f"2 a:b {os.getpid()}"
    gunicorn_hooks.call_hook(settings, "on_exit", "a:b")
    assert "The gunicorn hook on_exit" in caplog.text
    assert "hook broke" in caplog.text
