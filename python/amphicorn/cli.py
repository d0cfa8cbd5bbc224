"""The ``amphicorn`` command line, mapped one-to-one onto :class:`~amphicorn.Config`.

Each flag also reads a key of the config file and an ``AMPHICORN_*`` variable: the flag wins
over the file, which wins over the variable.
Bad flags and bad values exit with status 2 before anything binds; an app that cannot be
imported exits with status 1 (see :mod:`amphicorn.exits`). With more than one worker (or
``--reload``, or ``--limit-max-requests``) the supervisor runs the workers.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import platform
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from amphicorn import __version__, config_file, exits
from amphicorn._amphicorn import DEFAULT_ACCESS_LOG_FORMAT
from amphicorn.asgi import LIFESPAN_MODES, LOOPS
from amphicorn.config import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    LOG_FORMATS,
    LOG_LEVELS,
    WS_MODES,
    Bind,
    Config,
    ConfigError,
    MountConfig,
    parse_port,
)
from amphicorn.importer import parse_spec
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
        "--io-threads", help="tokio threads for sockets and HTTP (default: one per core; granian's --runtime-threads)"
    )
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
    limits = parser.add_argument_group("limits and timeouts")
    limits.add_argument("--timeout-keep-alive", help="seconds an idle keep-alive connection stays open (default 5)")
    limits.add_argument(
        "--timeout-request-headers",
        help="seconds a client has to send a request's line and headers; slower ones get 408 (default 10)",
    )
    limits.add_argument(
        "--timeout-request-body",
        help="seconds a client may pause while sending a request body; longer gets 408 (default 60)",
    )
    limits.add_argument(
        "--max-header-size", help="bytes a request line and headers may take; more gets 431 (default 65536)"
    )
    limits.add_argument("--backlog", help="connections the kernel queues before they are accepted (default 2048)")
    proxies = parser.add_argument_group("proxies in front")
    proxies.add_argument(
        "--proxy-headers",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="take the client address, scheme and host from Forwarded/X-Forwarded-* headers of trusted peers "
        "(default on)",
    )
    proxies.add_argument(
        "--forwarded-allow-ips",
        metavar="IPS",
        help="comma-separated trusted proxy addresses or networks, or * (default 127.0.0.1,::1; "
        "also read from FORWARDED_ALLOW_IPS, as uvicorn and gunicorn do)",
    )
    proxies.add_argument(
        "--proxy-protocol",
        action="store_const",
        const="true",
        help="trusted peers start each connection with a PROXY protocol v1/v2 header (default off)",
    )
    log_options = parser.add_argument_group("logging")
    log_options.add_argument("--log-level", help=f"one of {', '.join(LOG_LEVELS)} (default info)")
    log_options.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write one line per request to stdout, from Rust (default off)",
    )
    log_options.add_argument(
        "--access-log-format",
        metavar="FORMAT",
        help="gunicorn-style atoms: h t r m U q H s B b f a T M D L p mount {header}i "
        # argparse %-formats help texts: the format's own % signs are doubled.
        f"(default '{DEFAULT_ACCESS_LOG_FORMAT.replace('%', '%%')}')",
    )
    log_options.add_argument("--log-format", help="text or json (default text)")
    log_options.add_argument(
        "--log-config", metavar="FILE", help="logging configuration: dictConfig .json/.yaml, or fileConfig .ini"
    )
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
    except ConfigError as error:
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
    for flag, convert in CONVERTERS.items():
        value = setting(flag, convert)
        if value is None and flag == "forwarded-allow-ips" and "FORWARDED_ALLOW_IPS" in environ:
            value = convert(environ["FORWARDED_ALLOW_IPS"], "FORWARDED_ALLOW_IPS")  # As uvicorn and gunicorn.
        if value is not None:
            settings[flag.replace("-", "_")] = value
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

            def optional(key: str, convert: Callable[[object, str], Any], entry=entry, label=label) -> Any:
                return convert(entry[key], f"{label} {key}") if key in entry else None

            mounts.append(
                MountConfig(
                    point=entry["prefix"],
                    app=entry["app"],
                    interface=optional("interface", _choice(INTERFACES)),
                    threads=optional("threads", _positive_int),
                    queue_size=optional("queue-size", _positive_int),
                    queue_timeout=optional("queue-timeout", _seconds),
                    name=optional("name", _text),
                    fallback=optional("fallback", _text),
                    max_body_size=optional("max-body-size", _non_negative_int),
                    limit_concurrency=optional("limit-concurrency", _positive_int),
                    timeout_request_body=optional("timeout-request-body", _positive_seconds),
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


def _positive_seconds(value: object, source: str) -> float:
    seconds = _seconds(value, source)
    if seconds == 0:
        raise ConfigError(f"{source} {value!r}: expected a number of seconds, more than 0")
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


def _address_list(value: object, source: str) -> list[str]:
    """``10.0.0.1, 10.1.0.0/16`` (or a TOML list) → entries, each checked."""
    entries = value if isinstance(value, list) else str(value).split(",")
    checked = []
    for entry in entries:
        text = str(entry).strip()
        if not text:
            continue
        if text != "*":
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise ConfigError(
                    f"{source} {text!r}: expected an IP address, a network like 10.0.0.0/8, or *"
                ) from None
        checked.append(text)
    return checked


def _boolean(value: object, source: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{source} {value!r}: expected true or false")


#: How each flag's value (from the command line, the file or the environment) is checked and
#: converted; the Config field is the flag's name with ``_`` for ``-``.
CONVERTERS: dict[str, Callable[[object, str], Any]] = {
    "threads": _positive_int,
    "io-threads": _positive_int,
    "ws-max-size": _positive_int,
    "limit-concurrency": _positive_int,
    "max-header-size": _positive_int,
    "backlog": _positive_int,
    "max-body-size": _non_negative_int,
    "timeout-keep-alive": _positive_seconds,
    "timeout-request-headers": _positive_seconds,
    "timeout-request-body": _positive_seconds,
    "log-level": _choice(LOG_LEVELS),
    "interface": _choice(INTERFACES),
    "loop": _choice(LOOPS),
    "lifespan": _choice(LIFESPAN_MODES),
    "ws": _choice(WS_MODES),
    "log-format": _choice(LOG_FORMATS),
    "access-log-format": _text,
    "log-config": _text,
    "factory": _boolean,
    "proxy-headers": _boolean,
    "proxy-protocol": _boolean,
    "access-log": _boolean,
    "forwarded-allow-ips": _address_list,
}
