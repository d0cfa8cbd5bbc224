"""The ``amphicorn`` command line, built from the declarations of :mod:`amphicorn.settings`.

Each flag also reads a key of the config file and an ``AMPHICORN_*`` variable: the flag wins
over the file, which wins over the variable. This module merges those sources; the
converters check each value, naming where it came from.
Bad flags and bad values exit with status 2 before anything binds; an app that cannot be
imported exits with status 1 (see :mod:`amphicorn.exits`). ``--check-config`` stops after
those checks and the apps' import, and prints what would be served (:mod:`amphicorn.check`).
With more than one worker (or ``--reload``, or ``--limit-max-requests``) the supervisor runs
the workers.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, NoReturn

from amphicorn import __version__, config_file, convert, exits, gunicorn_config, gunicorn_hooks, mount_links
from amphicorn.config import DEFAULT_HOST, DEFAULT_PORT, Bind, Config, ConfigError, MountConfig
from amphicorn.importer import parse_spec
from amphicorn.interfaces import split_prefix, static_directory
from amphicorn.server import serve
from amphicorn.settings import BY_FLAG, CANARY_KEYS, ENV_PREFIX, GROUPS, MOUNT_SETTINGS, SETTINGS, SHADOW_KEYS, Setting

__all__ = ["ENV_PREFIX", "build_parser", "config_from_args", "help_of", "main", "usage_error", "version_text"]

#: Where a value may come from, the first that has it winning (``gunicorn``: a
#: ``--gunicorn-config`` file, with ``GUNICORN_CMD_ARGS``).
Layer = Literal["flag", "file", "gunicorn", "env"]
LAYERS: tuple[Layer, ...] = ("flag", "file", "gunicorn", "env")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: one argument per declared setting, in its group."""
    parser = argparse.ArgumentParser(
        prog="amphicorn",
        description="Serve a WSGI or ASGI app from a Rust (tokio + hyper) HTTP server.",
        epilog="Every option can also be set with an AMPHICORN_<OPTION> environment variable, "
        "e.g. AMPHICORN_THREADS=16, and with its long name as a key of the config file; "
        "a flag given on the command line wins over the file, which wins over the environment.",
    )
    groups: dict[str | None, Any] = {None: parser}
    for name in GROUPS[1:]:
        groups[name] = parser.add_argument_group(name)
    for setting in SETTINGS:
        if not setting.internal:
            _add_argument(groups[setting.group], setting)
    parser.add_argument("--version", action="version", version=version_text())
    return parser


def _add_argument(group: Any, setting: Setting) -> None:
    names = ([f"-{setting.short}"] if setting.short else []) + [setting.option]
    help_text = help_of(setting).replace("%", "%%")  # argparse %-formats help texts
    if setting.style == "positional":
        group.add_argument(setting.dest, nargs="?", metavar=setting.metavar, help=help_text)
    elif setting.style == "switch":
        group.add_argument(*names, action=argparse.BooleanOptionalAction, default=None, help=help_text)
    elif setting.style == "flag":
        group.add_argument(*names, action="store_const", const=True, help=help_text)
    else:
        action = "append" if setting.style == "repeat" else "store"
        group.add_argument(*names, action=action, metavar=setting.metavar, help=help_text)


def help_of(setting: Setting) -> str:
    """The --help text of a setting: what it does, its default, and unusual variables."""
    parts = [setting.help]
    if setting.style == "repeat":
        parts.append("; repeatable")
    if setting.default:
        parts.append(f" (default: {setting.default.replace('`', '')})")
    if setting.env_note or setting.aliases:
        note = f" ({setting.env_note})" if setting.env_note else ""
        parts.append(f". Env: {' or '.join(setting.env_names)}{note}")
    return "".join(parts)


def version_text() -> str:
    """What ``--version`` prints: amphicorn's version, Python's, and the system."""
    return f"amphicorn {__version__} (Python {platform.python_version()}, {platform.system()})"


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``amphicorn`` and ``python -m amphicorn``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        sources = load_sources(args, os.environ)
        report_url = sources.value(BY_FLAG["migration-report"])
        if report_url:
            from amphicorn import migration_report

            sys.exit(exits.run_reporting(lambda: print(migration_report.render(migration_report.fetch(report_url)))))
        config = config_from_sources(sources)
    except ConfigError as error:
        usage_error(parser, str(error))
    gunicorn = sources.gunicorn
    if gunicorn is not None and gunicorn.warning():
        print(f"amphicorn: warning: {gunicorn.warning()}", file=sys.stderr)
    if sources.value(BY_FLAG["check-config"]):
        from amphicorn.check import report

        sys.exit(exits.run_reporting(lambda: print(report(config), flush=True)))
    app_uri = config.app if isinstance(config.app, str) else None

    def server_hook(name: str, *args: Any) -> None:
        gunicorn_hooks.call_hook(gunicorn, name, app_uri, *args)

    def hook(name: str) -> Callable[[], None]:
        return lambda: server_hook(name)

    hook("on_starting")()
    if config.supervised():
        from amphicorn.supervisor import Supervisor

        status = Supervisor(config, on_ready=hook("when_ready"), hook=server_hook).run()
    else:
        status = exits.run_reporting(
            lambda: serve(config, on_ready=hook("when_ready"), on_reload=hook("on_reload"), exit_when_stuck=True)
        )
    hook("on_exit")()
    if status:
        sys.exit(status)


def usage_error(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    """Prints the usage line and ``message``, and exits with status 2."""
    parser.print_usage(sys.stderr)
    print(f"amphicorn: error: {message}", file=sys.stderr)
    sys.exit(2)


def config_from_args(args: argparse.Namespace, environ: Mapping[str, str]) -> Config:
    """Merges flags over the config file over a gunicorn configuration over ``AMPHICORN_*``
    variables over defaults, into a validated Config (the files override the environment, as
    a checked-in file describes the deployment more precisely than a process environment
    shared with other tools)."""
    return config_from_sources(load_sources(args, environ))


def load_sources(args: argparse.Namespace, environ: Mapping[str, str]) -> Sources:
    """The command line, the config file and the gunicorn configuration it names, and
    ``environ``, ready to be read setting by setting."""
    sources = Sources(args, None, environ)
    found = sources.at(BY_FLAG["config"], "flag") or sources.at(BY_FLAG["config"], "env")
    sources.file = config_file.load(convert.text(*found) if found else None)
    setting = BY_FLAG["gunicorn-config"]
    found = sources.at(setting, "flag") or sources.at(setting, "env")
    if found is not None:
        sources.gunicorn = gunicorn_config.load(setting.convert(*found), environ)
    return sources


def config_from_sources(sources: Sources) -> Config:
    """The validated Config the sources describe."""
    app = sources.value(BY_FLAG["app"])
    mounts = _mounts(sources)
    if not app and not mounts:
        raise ConfigError("no app given: pass one like 'mysite.wsgi:application', or --mount PREFIX=APP")
    for spec in [app, *(mount.app for mount in mounts)]:
        if isinstance(spec, str) and static_directory(spec) is None:
            parse_spec(split_prefix(spec)[1])
    values: dict[str, Any] = {"mounts": mounts, "binds": _binds(sources)}
    for setting in SETTINGS:
        if setting.field is not None and not setting.composite and not setting.internal:
            value = sources.value(setting)
            if value is not None:
                values[setting.field] = value
    return Config(app=app or None, **values).validate()


class Sources:
    """The command line, the config file (if any) and the environment, read by setting."""

    def __init__(
        self, args: argparse.Namespace, file: config_file.FileSettings | None, environ: Mapping[str, str]
    ) -> None:
        self.args = args
        self.file = file
        self.gunicorn: gunicorn_config.GunicornSettings | None = None
        self.environ = environ

    def at(self, setting: Setting, layer: Layer) -> tuple[object, str] | None:
        """The raw value of ``setting`` in one layer, and its source's name; None if unset."""
        if layer == "flag":
            value = getattr(self.args, setting.dest, None)
            return (value, setting.option) if value is not None else None
        if layer in ("file", "gunicorn"):
            file = self.file if layer == "file" else self.gunicorn
            if file is None or file.get(setting.flag) is None:
                return None
            return file.get(setting.flag), file.label(setting.flag)
        for name in setting.env_names:
            if name in self.environ:
                return self.environ[name], name
        return None

    def raw(self, setting: Setting) -> tuple[object, str] | None:
        """The raw value of ``setting`` from the first layer that has it."""
        for layer in LAYERS:
            found = self.at(setting, layer)
            if found is not None:
                return found
        return None

    def value(self, setting: Setting) -> Any:
        """The converted value of ``setting`` from the first layer that has it; None if unset."""
        found = self.raw(setting)
        return setting.convert(*found) if found is not None else None


def _mounts(sources: Sources) -> list[MountConfig]:
    """``--mount`` texts, or the file's ``[[mount]]`` tables, or ``AMPHICORN_MOUNT``."""
    setting = BY_FLAG["mount"]
    flag = sources.at(setting, "flag")
    if flag is not None:
        return [MountConfig.parse(text) for text in convert.mount_texts(*flag)]
    file = sources.file
    if file is not None and file.get("mount"):
        mounts = []
        for index, entry in enumerate(file.get("mount"), 1):
            label = file.label(f"mount #{index}")
            overrides = {
                str(setting.field): setting.convert(entry[setting.flag], f"{label} {setting.flag}")
                for setting in MOUNT_SETTINGS
                if setting.flag in entry
            }
            names: dict[str, Any] = {
                key: convert.text(entry[key], f"{label} {key}") for key in ("name", "fallback") if key in entry
            }
            names.update(mount_links.from_table(CANARY_KEYS, entry, label))
            names.update(mount_links.from_table(SHADOW_KEYS, entry, label))
            mounts.append(MountConfig(point=entry["prefix"], app=entry["app"], **names, **overrides))
        return mounts
    env = sources.at(setting, "env")
    if env is None:
        return []
    return [MountConfig.parse(text, setting=env[1]) for text in convert.mount_texts(*env)]


def _binds(sources: Sources) -> list[Bind]:
    """``--bind`` (or ``--host``/``--port``) from the first layer that has any of them."""
    bind, host, port = BY_FLAG["bind"], BY_FLAG["host"], BY_FLAG["port"]
    if sources.at(bind, "flag") and (sources.at(host, "flag") or sources.at(port, "flag")):
        raise ConfigError("--bind cannot be combined with --host/--port: use one or the other")
    for layer in LAYERS:
        found = sources.at(bind, layer)
        if found is not None:
            return [Bind.parse(text, setting=found[1]) for text in convert.bind_texts(*found)]
        host_found, port_found = sources.at(host, layer), sources.at(port, layer)
        if host_found is not None or port_found is not None:
            name = host.convert(*host_found).strip("[]") if host_found is not None else DEFAULT_HOST
            number = port.convert(*port_found) if port_found is not None else DEFAULT_PORT
            return [Bind(name, number)]
    return [Bind(DEFAULT_HOST, DEFAULT_PORT)]
