"""The addresses a server listens on (``--bind``, ``--admin-bind``): ``HOST:PORT``,
``[IPV6]:PORT``, ``unix:PATH`` or ``fd://N``, parsed into a :class:`Bind`. Binding them is
:mod:`amphicorn.sockets`' job; :mod:`amphicorn.config` holds them (and re-exports these
names, where they were first defined).
"""

from __future__ import annotations

import dataclasses
import os
import re

from amphicorn.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


@dataclasses.dataclass(frozen=True)
class Bind:
    """An address to listen on: TCP (``host`` may be a name, IPv4 or IPv6 literal), a Unix
    socket (``path``) or a listening socket inherited from the parent process (``fd``)."""

    host: str = ""
    port: int = 0
    #: ``unix:PATH``: a Unix socket at this path.
    path: str | None = None
    #: ``fd://N``: the listening socket the parent process left open as descriptor N.
    fd: int | None = None

    @classmethod
    def parse(cls, text: str, *, setting: str = "--bind") -> Bind:
        """Parses ``HOST:PORT``, ``[IPV6]:PORT``, ``:PORT`` (all interfaces), ``HOST``,
        ``unix:PATH`` or ``fd://N``.

        >>> Bind.parse("[::1]:8000")
        Bind(host='::1', port=8000, path=None, fd=None)
        """
        value = text.strip()
        if not value:
            raise ConfigError(f"{setting} {text!r}: expected HOST:PORT")
        if value.startswith("unix:"):
            path = value.removeprefix("unix:")
            if not path:
                raise ConfigError(f"{setting} {text!r}: expected unix:PATH")
            directory = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(directory):
                raise ConfigError(f"{setting} {text!r}: directory {directory!r} does not exist")
            return cls(path=path)
        if value.startswith("fd://"):
            number = value.removeprefix("fd://")
            if not number.isdigit():
                raise ConfigError(f"{setting} {text!r}: expected fd://N, N a descriptor number")
            return cls(fd=int(number))
        match = re.fullmatch(r"\[([0-9A-Fa-f:.%a-zA-Z]+)\](?::(\d*))?", value)
        if match:
            host, port = match.group(1), match.group(2)
        elif value.count(":") > 1:
            raise ConfigError(f"{setting} {text!r}: write IPv6 addresses in brackets, e.g. [::1]:8000")
        elif ":" in value:
            host, port = value.rsplit(":", 1)
            host = host or "0.0.0.0"
        else:
            host, port = value, None
        return cls(host, parse_port(port, f"{setting} {text!r}") if port else DEFAULT_PORT)

    def url(self, port: int | None = None) -> str:
        """``http://HOST:PORT`` of a TCP address (with ``port`` in place of its own when given)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port if port is None else port}"

    def __str__(self) -> str:
        if self.path is not None:
            return f"unix:{self.path}"
        if self.fd is not None:
            return f"fd://{self.fd}"
        return self.url().removeprefix("http://")


def parse_port(text: str | int, context: str) -> int:
    """A port number from 0 to 65535; a ConfigError naming ``context`` otherwise."""
    try:
        port = int(text)
    except ValueError:
        raise ConfigError(f"{context}: port must be a number from 0 to 65535") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"{context}: port must be a number from 0 to 65535")
    return port
