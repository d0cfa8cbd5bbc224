"""The ``amphicorn`` command line, mapped one-to-one onto :class:`~amphicorn.Config`.

Each flag also reads a key of the config file and an ``AMPHICORN_*`` variable: the flag wins
over the file, which wins over the variable.
Bad flags and bad values exit with status 2 before anything binds; an app that cannot be
imported exits with status 1 (see :mod:`amphicorn.exits`). With more than one worker (or
``--reload``, or ``--limit-max-requests``) the supervisor runs the workers.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from amphicorn import __version__, config_file, exits
from amphicorn.asgi import LIFESPAN_MODES, LOOPS
from amphicorn.config import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    LOG_LEVELS,
    WS_MODES,
    Bind,
    Config,
    ConfigError,
    MountConfig,
    parse_port,
)
from amphicorn.importer import AppSpecError, parse_spec
from amphicorn.interfaces import INTERFACES, split_prefix
from amphicorn.server import serve

ENV_PREFIX = "AMPHICORN_"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amphicorn",
        description="Serve a WSGI or ASGI app from a Rust (tokio + hyper) HTTP server.",
        epilog="Every option can also be set with an AMPHICORN_<OPTION> environment variable, "
        "e.g. AMPHICORN_THREADS=16; a flag given on the command line wins.",
    )
    parser.add_argument("app", nargs="?", help="the app to serve, as module:attribute (e.g. mysite.wsgi:application)")
    parser.add_argument(
        "-b",
        "--bind",
        action="append",
        metavar="HOST:PORT",
        help="address to listen on; repeat for several (IPv6 as [::1]:8000; unix:PATH for a Unix socket; "
        f"fd://N for an inherited listening socket). Default: {DEFAULT_HOST}:{DEFAULT_PORT}. "
        "Env: AMPHICORN_BIND (space or comma separated)",
    )
    parser.add_argument(
        "--mount",
        action="append",
        metavar="PREFIX=APP",
        help="serve APP at PREFIX (repeatable): /legacy=wsgi:mysite.wsgi:application, api.example.com/v2=api:app. "
        "Env: AMPHICORN_MOUNT (space separated)",
    )
    parser.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        help="TOML settings file (keys are the long flag names; [[mount]] tables for apps). "
        "Default: [tool.amphicorn] in ./pyproject.toml, if present. Env: AMPHICORN_CONFIG",
    )
    parser.add_argument("--host", help=f"shorthand for --bind HOST:PORT with --port (default {DEFAULT_HOST})")
    parser.add_argument("--port", help=f"shorthand for --bind HOST:PORT with --host (default {DEFAULT_PORT})")
    parser.add_argument("--threads", help="WSGI thread pool size (default: 4 per core, at most 32)")
    parser.add_argument(
        "--interface", help="wsgi or asgi (default: detected; an asgi:/wsgi: prefix on APP also sets it)"
    )
    parser.add_argument(
        "--factory", action="store_const", const="true", help="APP names a factory: call it to get the app"
    )
    parser.add_argument("--loop", help=f"ASGI event loop: {', '.join(LOOPS)} (default auto: uvloop if installed)")
    parser.add_argument("--lifespan", help=f"ASGI lifespan: {', '.join(LIFESPAN_MODES)} (default auto)")
    parser.add_argument("--ws", help="ASGI WebSockets: auto or none (default auto)")
    parser.add_argument("--ws-max-size", help="largest WebSocket message accepted, in bytes (default 16777216)")
    parser.add_argument("--max-body-size", help="largest request body in bytes; larger ones get 413 (default: none)")
    parser.add_argument(
        "--limit-concurrency", help="most requests in one mount's app at once; more get 503 at once (default: none)"
    )
    parser.add_argument("--log-level", help=f"one of {', '.join(LOG_LEVELS)} (default info)")
    _add_process_flags(parser)
    parser.add_argument("--version", action="version", version=version_text())
    return parser


def _add_process_flags(parser: argparse.ArgumentParser) -> None:
    """Worker processes and their life cycle (amphicorn.supervisor)."""
    group = parser.add_argument_group("processes")
    group.add_argument("-w", "--workers", help="worker processes, under a supervisor (default 1: no supervisor)")
    group.add_argument(
        "--limit-max-requests", metavar="N", help="a worker serves N requests, then is replaced (default: no limit)"
    )
    group.add_argument(
        "--limit-max-requests-jitter",
        metavar="J",
        help="add a random 0..J to each worker's --limit-max-requests, so they do not restart together (default 0)",
    )
    group.add_argument(
        "--timeout-graceful-shutdown",
        metavar="SECONDS",
        help="on SIGTERM/SIGINT (or a restart), how long in-flight requests get to finish (default 30)",
    )
    group.add_argument(
        "--reload",
        action="store_const",
        const="true",
        help="restart the workers when a .py file changes (development; needs watchfiles)",
    )
    group.add_argument(
        "--reload-dir",
        action="append",
        metavar="DIR",
        help="directory --reload watches; repeatable (default: the working directory). "
        f"Env: AMPHICORN_RELOAD_DIR ({os.pathsep!r} separated)",
    )
    group.add_argument("--pid", metavar="FILE", help="write the server's process id to FILE (removed on exit)")


def version_text() -> str:
    return f"amphicorn {__version__} (Python {platform.python_version()}, {platform.system()})"


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``amphicorn`` and ``python -m amphicorn``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args, os.environ)
    except (ConfigError, AppSpecError) as error:
        usage_error(parser, str(error))
    if config.supervised():
        from amphicorn.supervisor import Supervisor

        status = Supervisor(config).run()
    else:
        status = exits.run_reporting(lambda: serve(config, exit_when_stuck=True))
    if status:
        sys.exit(status)


def usage_error(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    parser.print_usage(sys.stderr)
    print(f"amphicorn: error: {message}", file=sys.stderr)
    sys.exit(2)


def config_from_args(args: argparse.Namespace, environ: Mapping[str, str]) -> Config:
    """Merges flags over the config file over ``AMPHICORN_*`` variables over defaults, into a
    validated Config (the file overrides the environment, as a checked-in file describes the
    deployment more precisely than a process environment shared with other tools)."""
    file = config_file.load(args.config or environ.get(ENV_PREFIX + "CONFIG"))

    def setting(flag: str, convert: Callable[[object, str], Any]) -> Any:
        value = getattr(args, flag.replace("-", "_"))
        if value is not None:
            return convert(value, f"--{flag}")
        if file is not None and file.get(flag) is not None:
            return convert(file.get(flag), file.label(flag))
        variable = ENV_PREFIX + flag.upper().replace("-", "_")
        if variable in environ:
            return convert(environ[variable], variable)
        return None

    app = setting("app", _text)
    mounts = _mounts(args, file, environ)
    if not app and not mounts:
        raise ConfigError("no app given: pass one like 'mysite.wsgi:application', or --mount PREFIX=APP")
    for spec in [app, *(mount.app for mount in mounts)]:
        if isinstance(spec, str):
            parse_spec(split_prefix(spec)[1])
    settings: dict[str, Any] = {"mounts": mounts}
    for flag in ("threads", "ws-max-size", "limit-concurrency"):
        number = setting(flag, _positive_int)
        if number is not None:
            settings[flag.replace("-", "_")] = number
    choices_by_flag = {
        "log-level": LOG_LEVELS,
        "interface": INTERFACES,
        "loop": LOOPS,
        "lifespan": LIFESPAN_MODES,
        "ws": WS_MODES,
    }
    for flag, choices in choices_by_flag.items():
        value = setting(flag, _choice(choices))
        if value is not None:
            settings[flag.replace("-", "_")] = value
    max_body_size = setting("max-body-size", _non_negative_int)
    if max_body_size is not None:
        settings["max_body_size"] = max_body_size
    factory = setting("factory", _boolean)
    if factory is not None:
        settings["factory"] = factory
    settings["binds"] = _binds(args, file, environ)
    settings.update(_process_settings(args, setting, file, environ))
    return Config(app=app or None, **settings).validate()


def _process_settings(
    args: argparse.Namespace,
    setting: Callable[[str, Callable[[object, str], Any]], Any],
    file: config_file.FileSettings | None,
    environ: Mapping[str, str],
) -> dict[str, Any]:
    """The Config fields of the process flags (workers, recycling, shutdown, reload, pid)."""
    settings: dict[str, Any] = {}
    converters: dict[str, tuple[str, Callable[[object, str], Any]]] = {
        "workers": ("workers", _positive_int),
        "limit-max-requests": ("limit_max_requests", _positive_int),
        "limit-max-requests-jitter": ("limit_max_requests_jitter", _non_negative_int),
        "timeout-graceful-shutdown": ("graceful_timeout", _seconds),
        "reload": ("reload", _boolean),
        "pid": ("pid_file", _file_path),
    }
    for flag, (field, convert) in converters.items():
        value = setting(flag, convert)
        if value is not None:
            settings[field] = value
    if args.reload_dir:
        directories = [_directory(text, "--reload-dir") for text in args.reload_dir]
    elif file is not None and file.get("reload-dir") is not None:
        value = file.get("reload-dir")
        texts = [value] if isinstance(value, str) else value
        if not isinstance(texts, list):
            raise ConfigError(f"{file.label('reload-dir')} {value!r}: expected a directory or a list of them")
        directories = [_directory(text, file.label("reload-dir")) for text in texts]
    else:
        texts = [text for text in environ.get(ENV_PREFIX + "RELOAD_DIR", "").split(os.pathsep) if text]
        directories = [_directory(text, ENV_PREFIX + "RELOAD_DIR") for text in texts]
    if directories:
        settings["reload_dirs"] = directories
    return settings


def _directory(value: object, source: str) -> str:
    if not isinstance(value, str) or not os.path.isdir(value):
        raise ConfigError(f"{source} {value!r}: not a directory")
    return os.path.abspath(value)


def _file_path(value: object, source: str) -> str:
    text = _text(value, source)
    directory = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(directory) or os.path.isdir(text):
        raise ConfigError(f"{source} {value!r}: expected a file in an existing directory")
    return os.path.abspath(text)


def _mounts(
    args: argparse.Namespace, file: config_file.FileSettings | None, environ: Mapping[str, str]
) -> list[MountConfig]:
    if args.mount:
        return [MountConfig.parse(text) for text in args.mount]
    if file is not None and file.get("mount"):
        mounts = []
        for index, entry in enumerate(file.get("mount"), 1):
            label = file.label(f"mount #{index}")
            mounts.append(
                MountConfig(
                    point=entry["prefix"],
                    app=entry["app"],
                    interface=_choice(INTERFACES)(entry["interface"], f"{label} interface")
                    if "interface" in entry
                    else None,
                    threads=_positive_int(entry["threads"], f"{label} threads") if "threads" in entry else None,
                    queue_size=_positive_int(entry["queue-size"], f"{label} queue-size")
                    if "queue-size" in entry
                    else None,
                    queue_timeout=_seconds(entry["queue-timeout"], f"{label} queue-timeout")
                    if "queue-timeout" in entry
                    else None,
                    name=_text(entry["name"], f"{label} name") if "name" in entry else None,
                    fallback=_text(entry["fallback"], f"{label} fallback") if "fallback" in entry else None,
                    max_body_size=_non_negative_int(entry["max-body-size"], f"{label} max-body-size")
                    if "max-body-size" in entry
                    else None,
                    limit_concurrency=_positive_int(entry["limit-concurrency"], f"{label} limit-concurrency")
                    if "limit-concurrency" in entry
                    else None,
                )
            )
        return mounts
    texts = environ.get(ENV_PREFIX + "MOUNT", "").split()
    return [MountConfig.parse(text, setting="AMPHICORN_MOUNT") for text in texts]


def _binds(args: argparse.Namespace, file: config_file.FileSettings | None, environ: Mapping[str, str]) -> list[Bind]:
    """``--bind`` (or ``--host``/``--port``) from the first source that has any of them."""
    if args.bind and (args.host is not None or args.port is not None):
        raise ConfigError("--bind cannot be combined with --host/--port: use one or the other")
    sources: list[tuple[Any, Any, Any, Callable[[str], str]]] = [
        (args.bind, args.host, args.port, lambda key: f"--{key}")
    ]
    if file is not None:
        sources.append((file.get("bind"), file.get("host"), file.get("port"), file.label))
    sources.append(
        (
            environ.get(ENV_PREFIX + "BIND"),
            environ.get(ENV_PREFIX + "HOST"),
            environ.get(ENV_PREFIX + "PORT"),
            lambda key: ENV_PREFIX + key.upper(),
        )
    )
    for bind, host, port, label in sources:
        if bind is not None:
            texts = bind if isinstance(bind, list) else bind.replace(",", " ").split() if isinstance(bind, str) else []
            if not texts or not all(isinstance(text, str) for text in texts):
                raise ConfigError(f"{label('bind')} {bind!r}: expected HOST:PORT")
            return [Bind.parse(text, setting=label("bind")) for text in texts]
        if host is not None or port is not None:
            host = str(host if host is not None else DEFAULT_HOST)
            if not host:
                raise ConfigError(f"{label('host')} '': expected a host name or address")
            number = parse_port(port, f"{label('port')} {port!r}") if port is not None else DEFAULT_PORT
            return [Bind(host.strip("[]"), number)]
    return [Bind(DEFAULT_HOST, DEFAULT_PORT)]


def _text(value: object, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{source} {value!r}: expected a non-empty string")
    return value


def _seconds(value: object, source: str) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = -1.0
    if isinstance(value, bool) or not 0 <= seconds < float("inf"):
        raise ConfigError(f"{source} {value!r}: expected a number of seconds, at least 0")
    return seconds


def _positive_int(value: object, source: str) -> int:
    if isinstance(value, bool):
        number = 0
    elif isinstance(value, int):
        number = value
    else:
        try:
            number = int(str(value))
        except ValueError:
            number = 0
    if number < 1:
        raise ConfigError(f"{source} {value!r}: expected a whole number of at least 1")
    return number


def _non_negative_int(value: object, source: str) -> int:
    if isinstance(value, bool):
        number = -1
    elif isinstance(value, int):
        number = value
    else:
        try:
            number = int(str(value))
        except ValueError:
            number = -1
    if number < 0:
        raise ConfigError(f"{source} {value!r}: expected a whole number of at least 0")
    return number


def _choice(choices: Sequence[str]) -> Callable[[object, str], str]:
    def convert(value: object, source: str) -> str:
        text = value.lower() if isinstance(value, str) else None
        if text not in choices:
            raise ConfigError(f"{source} {value!r}: expected one of {', '.join(choices)}")
        return text

    return convert


def _boolean(value: object, source: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{source} {value!r}: expected true or false")
