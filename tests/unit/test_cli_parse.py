"""amphicorn.cli.config_from_args with a fake environment: precedence, mounts, binds, lists.

The parser and the merge run in-process; nothing binds or imports an app. Each test runs in
its own empty working directory, so no ``pyproject.toml`` is picked up by accident.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from amphicorn.cli import build_parser, config_from_args
from amphicorn.config import Bind, Config
from amphicorn.errors import ConfigError
from amphicorn.settings import SETTINGS

APP = "mysite.wsgi:application"


@pytest.fixture(autouse=True)
def _empty_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def parse(*argv: str, env: dict[str, str] | None = None) -> Config:
    return config_from_args(build_parser().parse_args(list(argv)), env or {})


def config_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "amphicorn.toml"
    path.write_text(text)
    return str(path)


# -- precedence: flag > file > environment > default ---------------------------------------


def test_defaults():
    config = parse(APP)
    assert config.app == APP
    assert config.binds == [Bind("127.0.0.1", 8000)]
    assert config.queue_size == 1024
    assert config.queue_timeout == 30.0
    assert config.preread_limit == 64 * 1024
    assert config.graceful_timeout == 30.0
    assert config.reload_dirs == []


def test_flag_wins_over_file_which_wins_over_environment(tmp_path: Path):
    path = config_file(tmp_path, "threads = 3\nqueue-timeout = 7\n")
    env = {"AMPHICORN_THREADS": "5", "AMPHICORN_QUEUE_TIMEOUT": "9", "AMPHICORN_BACKLOG": "77"}
    config = parse(APP, "-c", path, "--threads", "2", env=env)
    assert config.threads == 2
    assert config.queue_timeout == 7.0
    assert config.backlog == 77
    assert parse(APP, "--config", path, env=env).threads == 3
    assert parse(APP, env=env).threads == 5


def test_the_config_file_may_come_from_the_environment(tmp_path: Path):
    path = config_file(tmp_path, f"app = '{APP}'\nworkers = 2\n")
    config = parse(env={"AMPHICORN_CONFIG": path})
    assert config.app == APP
    assert config.workers == 2


def test_the_pyproject_section_of_the_working_directory(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text(f"[tool.amphicorn]\napp = '{APP}'\nqueue-size = 9\n")
    assert parse().queue_size == 9


def test_new_settings_from_each_source(tmp_path: Path):
    flags = parse(APP, "--queue-size", "8", "--queue-timeout", "2.5", "--preread-limit", "0", "--app-dir", ".")
    assert (flags.queue_size, flags.queue_timeout, flags.preread_limit) == (8, 2.5, 0)
    assert flags.app_dir == str(tmp_path)
    env = {"AMPHICORN_QUEUE_SIZE": "6", "AMPHICORN_PREREAD_LIMIT": "10"}
    assert (parse(APP, env=env).queue_size, parse(APP, env=env).preread_limit) == (6, 10)
    path = config_file(tmp_path, "queue_size = 4\npreread-limit = 100\napp-dir = '.'\n")
    from_file = parse(APP, "-c", path)
    assert (from_file.queue_size, from_file.preread_limit, from_file.app_dir) == (4, 100, str(tmp_path))


def test_forwarded_allow_ips_also_reads_the_uvicorn_variable():
    assert parse(APP, env={"FORWARDED_ALLOW_IPS": "10.0.0.1"}).forwarded_allow_ips == ["10.0.0.1"]
    env = {"FORWARDED_ALLOW_IPS": "10.0.0.1", "AMPHICORN_FORWARDED_ALLOW_IPS": "*"}
    assert parse(APP, env=env).forwarded_allow_ips == ["*"]
    assert parse(APP, "--forwarded-allow-ips", "10.1.0.0/16", env=env).forwarded_allow_ips == ["10.1.0.0/16"]


def test_switches_and_flags():
    assert parse(APP, "--no-proxy-headers").proxy_headers is False
    assert parse(APP, env={"AMPHICORN_PROXY_HEADERS": "off"}).proxy_headers is False
    assert parse(APP, "--proxy-headers", env={"AMPHICORN_PROXY_HEADERS": "off"}).proxy_headers is True
    assert parse(APP, "--factory").factory is True
    assert parse(APP, env={"AMPHICORN_ACCESS_LOG": "yes"}).access_log is True


# -- binds -----------------------------------------------------------------------------------


def test_binds_from_flags():
    config = parse(APP, "-b", "127.0.0.1:0", "--bind", "[::1]:9000", "-b", "unix:sock")
    assert config.binds == [Bind("127.0.0.1", 0), Bind("::1", 9000), Bind(path="sock")]
    assert parse(APP, "--host", "0.0.0.0").binds == [Bind("0.0.0.0", 8000)]
    assert parse(APP, "--port", "9").binds == [Bind("127.0.0.1", 9)]


def test_bind_and_host_port_are_alternatives():
    with pytest.raises(ConfigError, match="--bind cannot be combined with --host/--port"):
        parse(APP, "-b", "127.0.0.1:0", "--port", "1")


def test_binds_from_the_environment_and_the_file(tmp_path: Path):
    env = {"AMPHICORN_BIND": "127.0.0.1:1, 127.0.0.1:2"}
    assert parse(APP, env=env).binds == [Bind("127.0.0.1", 1), Bind("127.0.0.1", 2)]
    assert parse(APP, env={"AMPHICORN_HOST": "::1", "AMPHICORN_PORT": "5"}).binds == [Bind("::1", 5)]
    path = config_file(tmp_path, "bind = ['127.0.0.1:3']\n")
    # A layer's host/port does not mix with another layer's bind: the file's bind wins.
    assert parse(APP, "-c", path, env={"AMPHICORN_PORT": "4"}).binds == [Bind("127.0.0.1", 3)]
    assert parse(APP, "-c", path, "--port", "6").binds == [Bind("127.0.0.1", 6)]


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (["--port", "http"], {}, "--port 'http': port must be a number from 0 to 65535"),
        (["--bind", "127.0.0.1:99999"], {}, "--bind '127.0.0.1:99999'"),
        ([], {"AMPHICORN_PORT": "x"}, "AMPHICORN_PORT 'x'"),
        ([], {"AMPHICORN_BIND": ""}, "AMPHICORN_BIND ''"),
        (["--host", ""], {}, "--host ''"),
    ],
)
def test_bad_binds_name_their_source(argv, env, named):
    with pytest.raises(ConfigError) as caught:
        parse(APP, *argv, env=env)
    assert named in str(caught.value)


def test_a_bad_bind_in_the_file_names_the_file(tmp_path: Path):
    path = config_file(tmp_path, "bind = 3\n")
    with pytest.raises(ConfigError, match=f"^{path}: bind 3: expected HOST:PORT"):
        parse(APP, "-c", path)


# -- mounts ----------------------------------------------------------------------------------


def test_mounts_from_flags_and_environment():
    config = parse("--mount", "/=a:app", "--mount", "/api=asgi:b:app")
    assert config.app is None
    assert [(mount.point, mount.app) for mount in config.mounts] == [("/", "a:app"), ("/api", "asgi:b:app")]
    config = parse(env={"AMPHICORN_MOUNT": "/=a:app /x=c:app"})
    assert [mount.point for mount in config.mounts] == ["/", "/x"]
    with pytest.raises(ConfigError, match=r"^AMPHICORN_MOUNT 'nonsense': expected PREFIX=APP"):
        parse(env={"AMPHICORN_MOUNT": "nonsense"})


def test_mount_tables_override_settings(tmp_path: Path):
    path = config_file(
        tmp_path,
        "[[mount]]\nprefix = '/'\napp = 'a:app'\nname = 'legacy'\nthreads = 2\nqueue-size = 4\nqueue_timeout = '1.5'\n"
        "[[mount]]\nprefix = '/api'\napp = 'b:app'\nfallback = 'legacy'\ntimeout-request-body = 3\n",
    )
    config = parse("-c", path)
    legacy, api = config.mounts
    assert (legacy.name, legacy.threads, legacy.queue_size, legacy.queue_timeout) == ("legacy", 2, 4, 1.5)
    assert (api.fallback, api.timeout_request_body, api.queue_size) == ("legacy", 3.0, None)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("queue-timeout = 1e300", "mount #1 queue-timeout 1e+300: expected a number of seconds, at most 31536000"),
        ("queue-size = 0", "mount #1 queue-size 0"),
        ("timeout-request-body = 0", "mount #1 timeout-request-body 0"),
        ("interface = 'rsgi'", "mount #1 interface 'rsgi'"),
        ("name = ''", "mount #1 name ''"),
    ],
)
def test_bad_mount_values_name_the_table_and_key(tmp_path: Path, line: str, message: str):
    path = config_file(tmp_path, f"[[mount]]\nprefix = '/'\napp = 'a:app'\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        parse("-c", path)
    assert str(caught.value).startswith(f"{path}: {message}"), str(caught.value)


def test_no_app_at_all():
    with pytest.raises(ConfigError, match="no app given"):
        parse()


# -- lists and seconds -----------------------------------------------------------------------


def test_reload_dirs_from_each_source(tmp_path: Path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    expected = [str(tmp_path / "a"), str(tmp_path / "b")]
    assert parse(APP, "--reload-dir", "a", "--reload-dir", "b").reload_dirs == expected
    assert parse(APP, env={"AMPHICORN_RELOAD_DIR": f"a{os.pathsep}b"}).reload_dirs == expected
    assert parse(APP, "-c", config_file(tmp_path, "reload-dir = ['a', 'b']\n")).reload_dirs == expected
    assert parse(APP, "-c", config_file(tmp_path, "reload-dir = 'a'\n")).reload_dirs == expected[:1]
    with pytest.raises(ConfigError, match=r"^--reload-dir '/nonexistent-amphicorn-dir': not a directory"):
        parse(APP, "--reload-dir", "a", "--reload-dir", "/nonexistent-amphicorn-dir")
    with pytest.raises(ConfigError, match="reload-dir 3: expected a directory or a list of them"):
        parse(APP, "-c", config_file(tmp_path, "reload-dir = 3\n"))


SECONDS = ("timeout-keep-alive", "timeout-request-headers", "timeout-request-body", "queue-timeout")


@pytest.mark.parametrize("flag", [*SECONDS, "timeout-graceful-shutdown"])
def test_seconds_above_a_year_from_each_source(tmp_path: Path, flag: str):
    variable = "AMPHICORN_" + flag.upper().replace("-", "_")
    with pytest.raises(ConfigError, match=f"^--{flag} '1e300': expected a number of seconds, at most 31536000"):
        parse(APP, f"--{flag}", "1e300")
    with pytest.raises(ConfigError, match=f"^{variable} 'inf'"):
        parse(APP, env={variable: "inf"})
    path = config_file(tmp_path, f"{flag} = 31536001\n")
    with pytest.raises(ConfigError, match=f"^{path}: {flag} 31536001"):
        parse(APP, "-c", path)
    field = "graceful_timeout" if flag == "timeout-graceful-shutdown" else flag.replace("-", "_")
    assert getattr(parse(APP, f"--{flag}", "31536000"), field) == 31536000.0  # a year itself is fine


def test_help_shows_every_declared_flag_with_its_default():
    text = " ".join(build_parser().format_help().split())
    for setting in SETTINGS:
        if setting.internal:
            continue
        assert setting.option in text or setting.metavar in text, setting.flag
        if setting.short:
            assert f"-{setting.short} " in text, setting.flag
        if setting.default:
            assert f"(default: {' '.join(setting.default.replace('`', '').split())})" in text, setting.flag
