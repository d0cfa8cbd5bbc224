"""The declarations of amphicorn.settings: complete, consistent, and checked by their converters.

Every Config field has a declaration (or is marked internal, with a reason); each declaration's
converter refuses a bad value with a message that names where it came from and the value; every
seconds setting stops at MAX_SECONDS; Config.validate (what amphicorn.run uses) checks typed
values with the same converters. No server starts.
"""

from __future__ import annotations

import dataclasses
import math

import amphicorn
import pytest
from amphicorn import convert, settings
from amphicorn.config import Config, MountConfig
from amphicorn.errors import ConfigError
from amphicorn.settings import BY_FLAG, MOUNT_SETTINGS, SETTINGS

#: A value each setting's converter must refuse (a new declaration needs an entry).
BAD = {
    "app": "",
    "mount": 3,
    "config": "",
    "gunicorn-config": "/no/such/gunicorn.conf.py",
    "check-config": "maybe",
    "migration-report": "localhost:9000",
    "bind": [],
    "host": " ",
    "port": "http",
    "threads": "0",
    "io-threads": "two",
    "interface": "rsgi",
    "factory": "maybe",
    "app-dir": "/nonexistent-amphicorn-dir",
    "loop": "trio",
    "lifespan": "sometimes",
    "ws": "always",
    "ws-max-size": "0",
    "max-body-size": "-5",
    "limit-concurrency": "0",
    "static-cache-control": "max-age=1\r\nSet-Cookie: x",
    "static-index": "../index.html",
    "compress": "gzip,lzma",
    "compress-min-size": "-1",
    "compress-types": "text",
    "timeout-keep-alive": "0",
    "timeout-request-headers": "soon",
    "timeout-request-body": "-1",
    "max-header-size": "100",
    "http": "3",
    "http2-max-concurrent-streams": "0",
    "backlog": "0",
    "queue-size": "0",
    "queue-timeout": "-1",
    "preread-limit": "-1",
    "ssl-certfile": "/no/such/cert.pem",
    "ssl-keyfile": "/no/such/key.pem",
    "ssl-keyfile-password": "",
    "ssl-ca-certs": "/no/such/ca.pem",
    "ssl-cert-reqs": "3",
    "proxy-headers": "perhaps",
    "forwarded-allow-ips": "10.0.0.0/33",
    "proxy-protocol": "2",
    "log-level": "loud",
    "access-log": "sometimes",
    "access-log-format": "%(nope)s",
    "log-format": "xml",
    "log-config": "/no/such/logging.json",
    "workers": "many",
    "limit-max-requests": "x",
    "limit-max-requests-jitter": "-3",
    "timeout-graceful-shutdown": "soon",
    "shutdown-delay": "-1",
    "reload": "maybe",
    "reload-dir": "/nonexistent-amphicorn-dir",
    "gc-freeze": "sometimes",
    "pid": "/nonexistent-amphicorn-dir/x.pid",
    "admin-bind": " ",
    "health-path": "healthz",
}

#: A good value of each setting, as a command line, a variable or a file gives it.
GOOD = {
    "app": "mysite.wsgi:application",
    "mount": "/api=api:app /x=wsgi:x:app",
    "config": "amphicorn.toml",
    "gunicorn-config": __file__,
    "check-config": True,
    "migration-report": "http://127.0.0.1:9000",
    "bind": "127.0.0.1:8000,[::1]:8000",
    "host": "0.0.0.0",
    "port": "8080",
    "threads": "16",
    "io-threads": 2,
    "interface": "ASGI",
    "factory": True,
    "app-dir": ".",
    "loop": "asyncio",
    "lifespan": "on",
    "ws": "none",
    "ws-max-size": "1024",
    "max-body-size": "0",
    "limit-concurrency": 100,
    "static-cache-control": "public, max-age=3600",
    "static-index": "index.html",
    "compress": "br, gzip",
    "compress-min-size": "0",
    "compress-types": ["text/*", "application/*+json"],
    "timeout-keep-alive": "0.5",
    "timeout-request-headers": 10,
    "timeout-request-body": "60",
    "max-header-size": "8192",
    "http": 2,
    "http2-max-concurrent-streams": "250",
    "backlog": "128",
    "queue-size": 8,
    "queue-timeout": "0",
    "preread-limit": "0",
    "ssl-certfile": __file__,
    "ssl-keyfile": __file__,
    "ssl-keyfile-password": " secret with spaces ",
    "ssl-ca-certs": __file__,
    "ssl-cert-reqs": 2,
    "proxy-headers": "off",
    "forwarded-allow-ips": "10.0.0.1, 10.1.0.0/16",
    "proxy-protocol": "yes",
    "log-level": "warning",
    "access-log": "1",
    "access-log-format": '%(h)s "%(r)s" %(s)s',
    "log-format": "json",
    "log-config": __file__,
    "workers": "2",
    "limit-max-requests": "100",
    "limit-max-requests-jitter": "0",
    "timeout-graceful-shutdown": "30",
    "shutdown-delay": "5",
    "reload": "true",
    "reload-dir": ["."],
    "gc-freeze": "off",
    "pid": "amphicorn.pid",
    "admin-bind": "127.0.0.1:9100",
    "health-path": "/healthz",
}

SECONDS = ("timeout-keep-alive", "timeout-request-headers", "timeout-request-body", "queue-timeout", "shutdown-delay")


def test_every_config_field_has_a_setting_or_is_internal_on_purpose():
    declared = {setting.field for setting in SETTINGS if setting.field is not None}
    fields = {field.name for field in dataclasses.fields(Config)}
    assert fields - declared == set()
    assert declared - fields == set(), "a declaration names a field Config does not have"
    for setting in SETTINGS:
        if setting.internal:
            assert setting.field is not None, f"{setting.flag}: internal settings are Config fields"


def test_flags_env_names_and_fields_are_unique():
    for attribute in ("flag", "env", "dest"):
        values = [getattr(setting, attribute) for setting in SETTINGS]
        assert len(values) == len(set(values)), attribute
    fields = [setting.field for setting in SETTINGS if setting.field is not None]
    assert len(fields) == len(set(fields))


def test_fields_that_differ_from_their_flags():
    assert BY_FLAG["timeout-graceful-shutdown"].field == "graceful_timeout"
    assert BY_FLAG["pid"].field == "pid_file"
    assert BY_FLAG["reload-dir"].field == "reload_dirs"
    assert BY_FLAG["bind"].field == "binds"
    assert BY_FLAG["mount"].field == "mounts"
    # Kept so that SIGHUP can re-read the canary weights (amphicorn/canary.py).
    assert BY_FLAG["config"].field == "config_file"
    assert BY_FLAG["check-config"].field is None


def test_environment_variable_names():
    for setting in SETTINGS:
        assert setting.env == "AMPHICORN_" + setting.flag.upper().replace("-", "_")
        assert setting.env_names[0] == setting.env
    assert BY_FLAG["forwarded-allow-ips"].env_names == ("AMPHICORN_FORWARDED_ALLOW_IPS", "FORWARDED_ALLOW_IPS")
    assert BY_FLAG["queue-timeout"].env == "AMPHICORN_QUEUE_TIMEOUT"
    assert BY_FLAG["app-dir"].env == "AMPHICORN_APP_DIR"


def test_short_flags():
    shorts = {setting.short: setting.flag for setting in SETTINGS if setting.short}
    assert shorts == {"b": "bind", "c": "config", "w": "workers"}


def test_file_keys():
    assert {"queue-size", "queue-timeout", "preread-limit", "app-dir", "mount", "app", "bind"} <= settings.FILE_KEYS
    # A file does not name another file.
    assert not {"config", "gunicorn-config"} & settings.FILE_KEYS
    # A file describes a server, not a run of the command.
    assert not {"check-config", "migration-report"} & settings.FILE_KEYS
    commands = ("config", "gunicorn-config", "check-config", "migration-report")
    assert {setting.flag for setting in SETTINGS if setting.flag not in commands} == settings.FILE_KEYS


def test_mount_keys_are_mount_config_fields():
    assert {"queue-size", "queue-timeout", "threads", "timeout-request-body"} <= settings.MOUNT_KEYS
    mount_fields = {field.name for field in dataclasses.fields(MountConfig)}
    for setting in MOUNT_SETTINGS:
        assert setting.field in mount_fields
    own = {"point", "app", "name", "fallback"}
    canary = {field for field, _ in settings.CANARY_KEYS.values()}
    assert canary <= mount_fields
    assert {key for key in settings.MOUNT_KEYS if key.startswith("canary")} == set(settings.CANARY_KEYS)
    shadow = {field for field, _ in settings.SHADOW_KEYS.values()}
    assert shadow <= mount_fields
    assert {key for key in settings.MOUNT_KEYS if key.startswith("shadow")} == set(settings.SHADOW_KEYS)
    assert mount_fields - own - canary - shadow == {setting.field for setting in MOUNT_SETTINGS}


def test_every_setting_has_a_bad_and_a_good_value_here():
    assert set(BAD) == {setting.flag for setting in SETTINGS}
    assert set(GOOD) == {setting.flag for setting in SETTINGS}


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda setting: setting.flag)
def test_the_converter_refuses_a_bad_value_naming_setting_and_value(setting):
    value = BAD[setting.flag]
    with pytest.raises(ConfigError) as caught:
        setting.convert(value, setting.option)
    message = str(caught.value)
    assert message.startswith(setting.option), message
    if setting.flag not in ("bind",):
        assert repr(value) in message or str(value).strip() in message, message


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda setting: setting.flag)
def test_the_converter_accepts_its_own_output(setting):
    """Config.validate converts typed values again: a converted value must come back unchanged."""
    once = setting.convert(GOOD[setting.flag], setting.option)
    assert setting.convert(once, setting.field or setting.flag) == once


def test_the_seconds_settings_are_exactly_these():
    seconds = {convert.seconds, convert.positive_seconds}
    found = {setting.flag for setting in SETTINGS if setting.convert in seconds}
    assert found == {*SECONDS, "timeout-graceful-shutdown"}


@pytest.mark.parametrize("flag", [*SECONDS, "timeout-graceful-shutdown"])
@pytest.mark.parametrize("value", [convert.MAX_SECONDS + 1, "31536001", 1e300, "1e300", math.inf, "inf", math.nan])
def test_seconds_above_a_year_are_refused(flag, value):
    setting = BY_FLAG[flag]
    with pytest.raises(ConfigError, match=f"^--{flag} ") as caught:
        setting.convert(value, setting.option)
    assert repr(value) in str(caught.value)


@pytest.mark.parametrize("flag", [*SECONDS, "timeout-graceful-shutdown"])
def test_a_year_itself_is_accepted(flag):
    assert BY_FLAG[flag].convert(str(convert.MAX_SECONDS), f"--{flag}") == convert.MAX_SECONDS
    assert BY_FLAG[flag].convert(2.5, f"--{flag}") == 2.5


WHOLE_NUMBERS = [s.flag for s in SETTINGS if s.convert in (convert.positive_int, convert.non_negative_int)]


INT31 = [s.flag for s in SETTINGS if s.convert is convert.positive_int31]


@pytest.mark.parametrize("flag", [*WHOLE_NUMBERS, "max-header-size", *INT31])
def test_whole_numbers_the_core_cannot_hold_are_refused(flag):
    setting = BY_FLAG[flag]
    maximum = convert.MAX_INT31 if flag in INT31 else convert.MAX_WHOLE
    assert setting.convert(str(maximum), setting.option) == maximum
    for value in (maximum + 1, str(10**30)):
        with pytest.raises(ConfigError, match=f"^--{flag} .*at most {maximum}$"):
            setting.convert(value, setting.option)


def test_booleans_are_not_numbers():
    for setting in (BY_FLAG["threads"], BY_FLAG["timeout-keep-alive"], BY_FLAG["max-body-size"]):
        with pytest.raises(ConfigError):
            setting.convert(True, setting.option)


# -- Config.validate, which amphicorn.run uses ---------------------------------------------


@pytest.mark.parametrize(
    "field", ["timeout_keep_alive", "timeout_request_headers", "timeout_request_body", "queue_timeout"]
)
def test_validate_refuses_seconds_above_a_year(field):
    with pytest.raises(ConfigError, match=f"^{field} 1e\\+300: .*at most 31536000"):
        Config(app="m:app", **{field: 1e300}).validate()
    with pytest.raises(ConfigError, match=f"^{field} inf"):
        Config(app="m:app", **{field: math.inf}).validate()


def test_validate_refuses_graceful_timeout_above_a_year():
    with pytest.raises(ConfigError, match=r"^graceful_timeout 31536001"):
        Config(app="m:app", graceful_timeout=31_536_001).validate()


@pytest.mark.parametrize("field", ["queue_timeout", "timeout_request_body"])
def test_validate_refuses_a_mounts_seconds_above_a_year(field):
    mount = MountConfig("/api", "api:app", **{field: 1e300})
    with pytest.raises(ConfigError, match=f"^{field} of mount /api 1e\\+300"):
        Config(app="m:app", mounts=[mount]).validate()


def test_validate_stores_typed_values():
    config = Config(app="m:app", threads="8", timeout_keep_alive=3, log_level="DEBUG").validate()  # type: ignore[arg-type]
    assert config.threads == 8
    assert config.timeout_keep_alive == 3.0
    assert isinstance(config.timeout_keep_alive, float)
    assert config.log_level == "debug"


def test_validate_names_the_field_and_value():
    with pytest.raises(ConfigError, match=r"^threads 0: expected a whole number of at least 1"):
        Config(app="m:app", threads=0).validate()
    with pytest.raises(ConfigError, match=r"^max_header_size 100: expected a number of bytes, at least 8192"):
        Config(app="m:app", max_header_size=100).validate()
    with pytest.raises(ConfigError, match=r"^queue_size of mount /x 0"):
        Config(app="m:app", mounts=[MountConfig("/x", "x:app", queue_size=0)]).validate()


def test_validate_leaves_optional_settings_unset():
    config = Config(app="m:app").validate()
    assert config.max_body_size is None
    assert config.limit_max_requests is None
    assert config.pid_file is None
    assert config.interface is None


@pytest.mark.parametrize(
    ("settings_", "message"),
    [
        ({"timeout_keep_alive": 1e300}, "timeout_keep_alive 1e+300: expected a number of seconds, at most 31536000"),
        ({"graceful_timeout": math.inf}, "graceful_timeout inf"),
        ({"queue_timeout": "1e9"}, "queue_timeout '1e9'"),
        ({"bind": 3}, "bind 3: expected HOST:PORT"),
        ({"bind": "127.0.0.1:99999"}, "bind '127.0.0.1:99999'"),
    ],
)
def test_run_refuses_bad_settings_before_serving(settings_, message):
    """amphicorn.run validates with the same converters, and raises before anything binds."""
    with pytest.raises(ConfigError) as caught:
        amphicorn.run("m:app", **settings_)
    assert str(caught.value).startswith(message), caught.value


def test_static_mounts_name_an_existing_directory_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "public").mkdir()
    (tmp_path / "file.txt").write_text("x")
    config = Config(app="static:public", mounts=[MountConfig("/media", "static:public")]).validate()
    assert config.app == f"static:{tmp_path / 'public'}"
    assert config.mounts[0].app == f"static:{tmp_path / 'public'}"
    for missing in ("static:nowhere", "static:file.txt", "static:"):
        with pytest.raises(ConfigError, match=r"^mount /static: static directory '.*' does not exist"):
            Config(mounts=[MountConfig("/static", missing)]).validate()
    with pytest.raises(ConfigError, match=r"^mount /static: interface 'wsgi' given for static files"):
        Config(mounts=[MountConfig("/static", "static:public", interface="wsgi")]).validate()
    with pytest.raises(ConfigError, match=r"^static_index of mount /static '\.\./x'"):
        Config(mounts=[MountConfig("/static", "static:public", static_index="../x")]).validate()
