"""``--gunicorn-config gunicorn.conf.py``: a gunicorn configuration, read as gunicorn reads it,
turned into amphicorn's settings.

The file is executed as Python (as gunicorn does); its module-level names are gunicorn's
settings. ``GUNICORN_CMD_ARGS`` (gunicorn's own flags, in one variable) overrides the file.
Each setting with an amphicorn equivalent becomes that setting, in a layer below
amphicorn's own flags and config file and above ``AMPHICORN_*`` variables (so a flag on the
command line still wins); errors name the gunicorn file and key. The rest:

- settings whose silent absence would be dangerous (``daemon``, ``user``, ``group``, ...)
  are errors that name them;
- settings with no equivalent, and hooks with no equivalent moment, are named together in
  one warning at start;
- ``logconfig_dict`` becomes the ``--log-config`` file it would be (written as JSON to a
  file of this process's, removed at exit); a dict that JSON cannot hold is an error;
- the hooks are ``gunicorn_hooks.py``'s to call.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import runpy
import shlex
import tempfile
import types
from collections.abc import Callable, Mapping
from typing import Any

from amphicorn.config_file import FileSettings
from amphicorn.errors import ConfigError

#: gunicorn setting → amphicorn flag, for the ones that carry over as they are.
SAME = {
    "wsgi_app": "app",
    "bind": "bind",
    "workers": "workers",
    "threads": "threads",
    "backlog": "backlog",
    "graceful_timeout": "timeout-graceful-shutdown",
    "keepalive": "timeout-keep-alive",
    "forwarded_allow_ips": "forwarded-allow-ips",
    "proxy_protocol": "proxy-protocol",
    "access_log_format": "access-log-format",
    "loglevel": "log-level",
    "logconfig": "log-config",
    "pidfile": "pid",
    "reload": "reload",
    "certfile": "ssl-certfile",
    "keyfile": "ssl-keyfile",
    "ca_certs": "ssl-ca-certs",
}
#: gunicorn's defaults for the three request limits (0: no limit).
REQUEST_LIMITS = {"limit_request_line": 4094, "limit_request_fields": 100, "limit_request_field_size": 8190}
#: Settings whose silent absence would be dangerous, and why.
REFUSED = {
    "daemon": "amphicorn does not daemonize: run it under systemd, a container or supervisord",
    "user": "amphicorn does not switch user: start it as that user",
    "group": "amphicorn does not switch group: start it as that group",
    "initgroups": "amphicorn does not switch groups: start it as that user",
    "umask": "amphicorn does not set a umask: set it in the service that starts it",
    "secure_scheme_headers": "amphicorn trusts X-Forwarded-Proto and Forwarded from forwarded_allow_ips only",
}
#: Server hooks, called in the main process at their moment (``gunicorn_hooks.py``).
HOOKS = ("on_starting", "when_ready", "on_reload", "child_exit", "on_exit")
#: Worker hooks, called in each serving process (see ``gunicorn_hooks.WorkerHooks``).
WORKER_HOOKS = ("post_worker_init", "worker_int", "worker_exit", "pre_request", "post_request")
#: gunicorn hooks with no equivalent moment: named in the warning when the file defines them.
OTHER_HOOKS = (
    "worker_abort",
    "pre_fork",
    "post_fork",
    "pre_exec",
    "nworkers_changed",
    "ssl_context",
)
#: Worker classes amphicorn's own model stands in for (threads for WSGI, an event loop for ASGI).
WORKER_CLASSES = ("sync", "gthread", "uvicorn.workers.UvicornWorker", "uvicorn_worker.UvicornWorker")
#: gunicorn's flags in GUNICORN_CMD_ARGS, as (flags, setting, kind).
CMD_ARGS = (
    (("-b", "--bind"), "bind", "append"),
    (("-w", "--workers"), "workers", int),
    (("--threads",), "threads", int),
    (("--backlog",), "backlog", int),
    (("-t", "--timeout"), "timeout", int),
    (("--graceful-timeout",), "graceful_timeout", int),
    (("--keep-alive",), "keepalive", int),
    (("--max-requests",), "max_requests", int),
    (("--max-requests-jitter",), "max_requests_jitter", int),
    (("--limit-request-line",), "limit_request_line", int),
    (("--limit-request-fields",), "limit_request_fields", int),
    (("--limit-request-field_size", "--limit-request-field-size"), "limit_request_field_size", int),
    (("--forwarded-allow-ips",), "forwarded_allow_ips", str),
    (("--proxy-protocol",), "proxy_protocol", "flag"),
    (("--proxy-allow-from",), "proxy_allow_ips", str),
    (("--access-logfile",), "accesslog", str),
    (("--access-logformat",), "access_log_format", str),
    (("--error-logfile", "--log-file"), "errorlog", str),
    (("--log-level",), "loglevel", str),
    (("--log-config",), "logconfig", str),
    (("-p", "--pid"), "pidfile", str),
    (("-e", "--env"), "raw_env", "append"),
    (("--chdir",), "chdir", str),
    (("--reload",), "reload", "flag"),
    (("--certfile",), "certfile", str),
    (("--keyfile",), "keyfile", str),
    (("--ca-certs",), "ca_certs", str),
    (("--cert-reqs",), "cert_reqs", int),
    (("-k", "--worker-class"), "worker_class", str),
    (("--worker-connections",), "worker_connections", int),
    (("-D", "--daemon"), "daemon", "flag"),
    (("-u", "--user"), "user", str),
    (("-g", "--group"), "group", str),
    (("--preload",), "preload_app", "flag"),
)


class GunicornSettings(FileSettings):
    """The amphicorn settings a gunicorn configuration amounts to, each labelled with the
    gunicorn key it came from; with the hooks to call and what could not be carried over."""

    def __init__(self, origin: str) -> None:
        super().__init__({}, origin)
        self.keys: dict[str, str] = {}
        self.hooks: dict[str, Callable[..., Any]] = {}
        self.ignored: list[str] = []
        self.gunicorn: dict[str, Any] = {}

    def label(self, key: str) -> str:
        return f"{self.origin}: {self.keys.get(key, key)}"

    def set(self, flag: str, value: Any, gunicorn_key: str) -> None:
        self.values[flag] = value
        self.keys[flag] = gunicorn_key

    def warning(self) -> str | None:
        """The one warning about what is not carried over, or None."""
        if not self.ignored:
            return None
        return f"{self.origin}: no amphicorn equivalent, ignored: {', '.join(sorted(self.ignored))}"


#: The files executed in this process, by path: the CLI reads the settings and the serving
#: code the hooks of one execution, so the file's own side effects happen once per process
#: (once in the supervisor and once in each spawned worker, with --workers).
_EXECUTED: dict[str, dict[str, Any]] = {}


def execute(path: str) -> dict[str, Any]:
    """The file's public module-level names, as gunicorn reads them (a copy: callers add to
    it)."""
    if path not in _EXECUTED:
        _EXECUTED[path] = _run(path)
    return dict(_EXECUTED[path])


def _run(path: str) -> dict[str, Any]:
    try:
        names = runpy.run_path(path, run_name="__config__")
    except OSError as error:
        raise ConfigError(f"--gunicorn-config {path!r}: {error.strerror}") from None
    except Exception as error:  # the user's Python: any failure is a bad config
        raise ConfigError(f"--gunicorn-config {path!r}: executing it failed: {error!r}") from None
    values = {key: value for key, value in names.items() if not key.startswith("_")}
    return {key: value for key, value in values.items() if not isinstance(value, types.ModuleType)}


def load(path: str, environ: Mapping[str, str]) -> GunicornSettings:
    """Executes ``path`` as gunicorn does, applies ``GUNICORN_CMD_ARGS`` over it, and maps
    the result; raises ConfigError for a file that fails or a refused setting."""
    values = execute(path)
    if environ.get("GUNICORN_CMD_ARGS"):
        values.update(_command_args(environ["GUNICORN_CMD_ARGS"]))
    settings = GunicornSettings(path)
    settings.gunicorn = values
    for key, value in values.items():
        _map(settings, key, value)
    return settings


def _command_args(text: str) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="GUNICORN_CMD_ARGS", add_help=False, exit_on_error=False)
    for flags, dest, kind in CMD_ARGS:
        if kind == "append":
            parser.add_argument(*flags, dest=dest, action="append")
        elif kind == "flag":
            parser.add_argument(*flags, dest=dest, action="store_true", default=None)
        else:
            parser.add_argument(*flags, dest=dest, type=kind)
    try:
        parsed, unknown = parser.parse_known_args(shlex.split(text))
    except argparse.ArgumentError as error:
        raise ConfigError(f"GUNICORN_CMD_ARGS: {error}") from None
    if unknown:
        raise ConfigError(f"GUNICORN_CMD_ARGS: not understood: {' '.join(unknown)}")
    return {key: value for key, value in vars(parsed).items() if value is not None}


def _map(settings: GunicornSettings, key: str, value: Any) -> None:
    if key in HOOKS and callable(value):
        settings.hooks[key] = value
    elif key in WORKER_HOOKS and callable(value):
        pass  # Each serving process reads them itself (worker_hooks).
    elif key in OTHER_HOOKS and callable(value):
        settings.ignored.append(f"{key} (hook)")
    elif key in REFUSED:
        if _is_set(key, value):
            raise ConfigError(f"{settings.origin}: {key} = {value!r}: {REFUSED[key]}")
    elif key in SAME:
        if value is not None:
            settings.set(SAME[key], value, key)
    elif key == "max_requests":
        if value:  # gunicorn's 0 means no limit
            settings.set("limit-max-requests", value, key)
    elif key == "max_requests_jitter":
        if value:
            settings.set("limit-max-requests-jitter", value, key)
    elif key in REQUEST_LIMITS:
        limits = {name: settings.gunicorn.get(name, default) for name, default in REQUEST_LIMITS.items()}
        if 0 not in limits.values():
            head = limits["limit_request_line"] + limits["limit_request_fields"] * limits["limit_request_field_size"]
            settings.set("max-header-size", max(head, 8192), key)
    elif key == "cert_reqs":
        settings.set("ssl-cert-reqs", str(value), key)
    elif key == "accesslog":
        if value == "-":
            settings.set("access-log", True, key)
        elif value is not None:
            settings.ignored.append(f"accesslog (to {value!r}: amphicorn writes the access log to stdout)")
    elif key == "logconfig_dict":
        if value:
            settings.set("log-config", _dict_config_file(settings, value), key)
    elif key == "errorlog":
        if value not in ("-", None):
            settings.ignored.append(f"errorlog (to {value!r}: amphicorn logs to stderr)")
    elif key == "raw_env":
        for item in value or []:
            name, sep, text = str(item).partition("=")
            if not sep:
                raise ConfigError(f"{settings.origin}: raw_env {item!r}: expected NAME=VALUE")
            os.environ[name] = text
    elif key == "chdir":
        try:
            os.chdir(value)
        except OSError as error:
            raise ConfigError(f"{settings.origin}: chdir {value!r}: {error.strerror}") from None
        settings.set("app-dir", value, key)
    elif key == "worker_class":
        if value not in WORKER_CLASSES:
            settings.ignored.append(f"worker_class ({value!r}: amphicorn runs WSGI on threads, ASGI on its loop)")
    elif key == "proxy_allow_ips":
        settings.ignored.append("proxy_allow_ips (amphicorn trusts forwarded_allow_ips for PROXY headers too)")
    else:
        settings.ignored.append(key)


def _dict_config_file(settings: GunicornSettings, value: Any) -> str:
    """``logconfig_dict`` as a dictConfig JSON file (what ``--log-config`` reads), kept until
    this process exits; spawned workers read it too."""
    if not isinstance(value, dict):
        raise ConfigError(f"{settings.origin}: logconfig_dict: expected a dict, got {type(value).__name__}")
    try:
        text = json.dumps(value)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{settings.origin}: logconfig_dict: {error}") from None
    handle, path = tempfile.mkstemp(prefix="amphicorn-logconfig-", suffix=".json")
    with os.fdopen(handle, "w") as stream:
        stream.write(text)
    atexit.register(_remove, path)
    return path


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _is_set(key: str, value: Any) -> bool:
    """Whether a refused setting asks for something (gunicorn's defaults ask for nothing)."""
    if key == "user":
        return value not in (None, os.geteuid())
    if key == "group":
        return value not in (None, os.getegid())
    if key == "umask":
        return value not in (None, 0)
    if key == "secure_scheme_headers":
        default = {"X-FORWARDED-PROTOCOL": "ssl", "X-FORWARDED-PROTO": "https", "X-FORWARDED-SSL": "on"}
        return value not in (None, default)
    return bool(value)
