"""The ``amphicorn`` command line, mapped one-to-one onto :class:`~amphicorn.Config`.

Each flag also reads an ``AMPHICORN_*`` variable; a flag given on the command line wins.
Bad flags and bad values exit with status 2 before anything binds; an app that cannot be
imported exits with status 1.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from amphicorn import __version__
from amphicorn.asgi import LIFESPAN_MODES, LOOPS, LifespanFailure
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
from amphicorn.importer import AppImportError, AppSpecError, parse_spec
from amphicorn.interfaces import INTERFACES, split_prefix
from amphicorn.server import serve
from amphicorn.sockets import BindError

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
        help="address to listen on; repeat for several (IPv6 as [::1]:8000). "
        f"Default: {DEFAULT_HOST}:{DEFAULT_PORT}. Env: AMPHICORN_BIND (space or comma separated)",
    )
    parser.add_argument(
        "--mount",
        action="append",
        metavar="PREFIX=APP",
        help="serve APP at PREFIX (repeatable): /legacy=wsgi:mysite.wsgi:application, api.example.com/v2=api:app. "
        "Env: AMPHICORN_MOUNT (space separated)",
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
    parser.add_argument("--log-level", help=f"one of {', '.join(LOG_LEVELS)} (default info)")
    parser.add_argument("--version", action="version", version=version_text())
    return parser


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
    try:
        serve(config)
    except AppImportError as error:
        print(f"amphicorn: error: {error}", file=sys.stderr)
        sys.exit(1)
    except LifespanFailure as error:
        print(f"amphicorn: error: ASGI lifespan startup failed: {error}", file=sys.stderr)
        sys.exit(3)
    except BindError as error:
        print(f"amphicorn: error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        pass


def usage_error(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    parser.print_usage(sys.stderr)
    print(f"amphicorn: error: {message}", file=sys.stderr)
    sys.exit(2)


def config_from_args(args: argparse.Namespace, environ: os._Environ[str] | dict[str, str]) -> Config:
    """Merges flags over ``AMPHICORN_*`` variables over defaults into a validated Config."""

    def setting(flag: str, convert: Callable[[str, str], Any]) -> Any:
        value = getattr(args, flag.replace("-", "_"))
        if value is not None:
            return convert(value, f"--{flag}")
        variable = ENV_PREFIX + flag.upper().replace("-", "_")
        if variable in environ:
            return convert(environ[variable], f"{variable}")
        return None

    app = args.app or environ.get(ENV_PREFIX + "APP")
    if args.mount:
        mounts = [MountConfig.parse(text) for text in args.mount]
    else:
        mounts = [
            MountConfig.parse(text, setting="AMPHICORN_MOUNT") for text in environ.get("AMPHICORN_MOUNT", "").split()
        ]
    if not app and not mounts:
        raise ConfigError("no app given: pass one like 'mysite.wsgi:application', or --mount PREFIX=APP")
    for spec in [app, *(mount.app for mount in mounts)]:
        if isinstance(spec, str):
            parse_spec(split_prefix(spec)[1])
    settings: dict[str, Any] = {"mounts": mounts}
    for flag in ("threads", "ws-max-size"):
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
    factory = setting("factory", _boolean)
    if factory is not None:
        settings["factory"] = factory
    settings["binds"] = _binds(args, environ)
    return Config(app=app or None, **settings).validate()


def _binds(args: argparse.Namespace, environ: os._Environ[str] | dict[str, str]) -> list[Bind]:
    host_port_flags = args.host is not None or args.port is not None
    if args.bind:
        if host_port_flags:
            raise ConfigError("--bind cannot be combined with --host/--port: use one or the other")
        return [Bind.parse(text, setting="--bind") for text in args.bind]
    if not host_port_flags and ENV_PREFIX + "BIND" in environ:
        texts = environ[ENV_PREFIX + "BIND"].replace(",", " ").split()
        if not texts:
            raise ConfigError("AMPHICORN_BIND '': expected HOST:PORT")
        return [Bind.parse(text, setting="AMPHICORN_BIND") for text in texts]
    host = args.host if args.host is not None else environ.get(ENV_PREFIX + "HOST", DEFAULT_HOST)
    if args.port is not None:
        port = parse_port(args.port, f"--port {args.port!r}")
    elif ENV_PREFIX + "PORT" in environ:
        port = parse_port(environ[ENV_PREFIX + "PORT"], f"AMPHICORN_PORT {environ[ENV_PREFIX + 'PORT']!r}")
    else:
        port = DEFAULT_PORT
    if not host:
        raise ConfigError("--host '': expected a host name or address")
    return [Bind(host.strip("[]"), port)]


def _positive_int(text: str, source: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{source} {text!r}: expected a whole number of at least 1")
    return value


def _choice(choices: Sequence[str]) -> Callable[[str, str], str]:
    def convert(text: str, source: str) -> str:
        value = text.lower()
        if value not in choices:
            raise ConfigError(f"{source} {text!r}: expected one of {', '.join(choices)}")
        return value

    return convert


def _boolean(text: str, source: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{source} {text!r}: expected true or false")
