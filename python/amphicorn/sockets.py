"""Creates the listening sockets, in Python, before the Rust core takes them over.

Binding here keeps the policy (address resolution, socket options, error messages) next
to the rest of the configuration, and lets a later supervisor share sockets with workers.
"""

from __future__ import annotations

import socket

from amphicorn.config import Bind


class BindError(OSError):
    """An address could not be bound; the message names it."""


def listen(bind: Bind, backlog: int) -> list[socket.socket]:
    """Binds every address ``bind.host`` resolves to (a name like ``localhost`` may give
    both 127.0.0.1 and ::1), all on one port: with port 0, the first socket's port."""
    try:
        infos = socket.getaddrinfo(bind.host, bind.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise BindError(f"cannot bind {bind.host}:{bind.port}: {error.strerror}") from None
    sockets: list[socket.socket] = []
    port = bind.port
    seen: set[tuple[int, str]] = set()
    try:
        for family, kind, protocol, _, address in infos:
            if (family, address[0]) in seen:
                continue
            seen.add((family, address[0]))
            sock = socket.socket(family, kind, protocol)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                # One socket per family: a v6 socket must not also claim the v4 port.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind((address[0], port, *address[2:]))
            except OSError as error:
                raise BindError(f"cannot bind {format_address(address[0], port)}: {error.strerror}") from None
            sock.listen(backlog)
            port = sock.getsockname()[1]
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
