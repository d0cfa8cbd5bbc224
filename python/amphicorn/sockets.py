"""Creates the listening sockets, in Python, before the Rust core takes them over.

Binding here keeps the policy (address resolution, socket options, error messages) next
to the rest of the configuration, and lets the supervisor bind once and hand the same
sockets to every worker process.

Three kinds of address: TCP (``HOST:PORT``), a Unix socket (``unix:PATH``) and a listening
socket inherited from the parent (``fd://N``). Under systemd socket activation
(``LISTEN_FDS`` and ``LISTEN_PID`` naming this process), the sockets systemd passed, from
descriptor 3 on, replace the configured addresses, as gunicorn does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import stat
from collections.abc import Iterator, MutableMapping

from amphicorn.binds import Bind
from amphicorn.errors import BindError

#: The first descriptor systemd passes (``SD_LISTEN_FDS_START``).
SYSTEMD_FIRST_FD = 3


@dataclasses.dataclass
class Listeners:
    """The sockets a server listens on, and what to clean up when it is done with them."""

    sockets: list[socket.socket]
    #: Socket files this process created (``unix:PATH``), removed by :meth:`close`.
    unix_paths: list[str] = dataclasses.field(default_factory=list)
    #: Whether the sockets came from systemd socket activation.
    activated: bool = False
    #: Descriptors of sockets someone else bound (``fd://N``), which must go on listening
    #: after this process is done with them.
    borrowed: set[int] = dataclasses.field(default_factory=set)

    def fds(self) -> list[int]:
        return [sock.fileno() for sock in self.sockets]

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        self._remove_unix_files()

    def _remove_unix_files(self) -> None:
        for path in self.unix_paths:
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(os.stat(path).st_mode):
                    os.unlink(path)

    def refuse_new(self) -> None:
        """Stops listening on the sockets this process bound, in every process that shares
        them: new connections are refused and those queued but not yet accepted are reset,
        at once, rather than wait in the backlog for a drain that will never accept them.
        Connections already accepted are not touched. Sockets from systemd or ``fd://`` keep
        listening (their owner hands them to the next server).

        A TCP socket is shut down (``SHUT_RD``), which takes it out of the listening state
        whoever holds copies of it. A Unix socket cannot be (it would stay readable forever,
        and an event loop still watching it would spin): its file is removed, so a new client
        fails at once to find it, and this process closes its copy and forgets it. Each
        worker holds only its server's copy, which it closes when its accept loop ends on the
        stop signal (see :func:`amphicorn.server.serve`); with the last copy the socket
        closes, and the kernel resets the clients still queued. That is a moment after the
        stop begins (the workers' reaction to SIGTERM), not at the end of the drain; a client
        that a worker accepts in that moment is answered, as one accepted just before."""
        if self.activated:
            return
        self._remove_unix_files()
        kept: list[socket.socket] = []
        for sock in self.sockets:
            if sock.fileno() in self.borrowed:
                kept.append(sock)
            elif sock.family == socket.AF_UNIX:
                sock.close()
            else:
                kept.append(sock)
                with contextlib.suppress(OSError):
                    # On Linux, SHUT_RD on a listening TCP socket takes it out of the listening
                    # state (resetting its queue), whoever holds copies of the descriptor.
                    sock.shutdown(socket.SHUT_RD)
        self.sockets = kept


def listen_all(binds: list[Bind], backlog: int, environ: MutableMapping[str, str] | None = None) -> Listeners:
    """The listening sockets for ``binds``, or systemd's when socket-activated; on failure
    nothing stays bound."""
    activated = systemd_sockets(os.environ if environ is None else environ)
    if activated:
        return Listeners(activated, activated=True)
    listeners = Listeners([])
    try:
        for bind in binds:
            sockets = listen(bind, backlog)
            listeners.sockets.extend(sockets)
            if bind.path is not None:
                listeners.unix_paths.append(bind.path)
            if bind.fd is not None:
                listeners.borrowed.update(sock.fileno() for sock in sockets)
    except BaseException:
        listeners.close()
        raise
    return listeners


def listen(bind: Bind, backlog: int) -> list[socket.socket]:
    """The sockets of one address: see :func:`listen_tcp`, :func:`listen_unix`, :func:`inherit`."""
    if bind.path is not None:
        return [listen_unix(bind.path, backlog)]
    if bind.fd is not None:
        return [inherit(bind.fd, f"fd://{bind.fd}")]
    return listen_tcp(bind, backlog)


def listen_tcp(bind: Bind, backlog: int) -> list[socket.socket]:
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
            host = str(address[0])
            if (family, host) in seen:
                continue
            seen.add((family, host))
            sock = socket.socket(family, kind, protocol)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                # One socket per family: a v6 socket must not also claim the v4 port.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind((host, port, *address[2:]))
            except OSError as error:
                raise BindError(f"cannot bind {format_address(host, port)}: {error.strerror}") from None
            sock.listen(backlog)
            port = sock.getsockname()[1]
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def listen_unix(path: str, backlog: int) -> socket.socket:
    """Binds a Unix socket at ``path``, replacing a stale socket file (one left by a server
    that did not exit cleanly) but never any other kind of file."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(backlog)
    except OSError as error:
        sock.close()
        raise BindError(f"cannot bind unix:{path}: {error.strerror}") from None
    return sock


def inherit(fd: int, name: str) -> socket.socket:
    """Takes over descriptor ``fd``, which must be a listening stream socket."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as error:
        raise BindError(f"cannot use {name}: {error.strerror}") from None
    try:
        if sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX):
            raise BindError(f"cannot use {name}: not a TCP or Unix stream socket")
        if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            raise BindError(f"cannot use {name}: the socket is not listening")
    except BaseException:
        sock.detach()  # not ours to close: the caller keeps its descriptor
        raise
    return sock


def systemd_sockets(environ: MutableMapping[str, str]) -> list[socket.socket]:
    """The sockets systemd passed to this process (``sd_listen_fds``), or none. The
    variables are removed, so that child processes do not take them for their own."""
    count, pid = environ.get("LISTEN_FDS"), environ.get("LISTEN_PID")
    if count is None or pid is None:
        return []
    for name in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
        environ.pop(name, None)
    if not pid.isdigit() or int(pid) != os.getpid():
        return []
    if not count.isdigit():
        raise BindError(f"LISTEN_FDS {count!r}: expected a number of descriptors")
    sockets: list[socket.socket] = []
    for fd in range(SYSTEMD_FIRST_FD, SYSTEMD_FIRST_FD + int(count)):
        sockets.append(inherit(fd, f"systemd socket (descriptor {fd})"))
    return sockets


def describe(sock: socket.socket, *, tls: bool = False) -> str:
    """The address a socket listens on, for the ``Listening on`` line (``https://`` when TCP
    listeners serve TLS; Unix sockets stay plain)."""
    if sock.family == socket.AF_UNIX:
        name = sock.getsockname()
        return f"unix:{name.decode() if isinstance(name, bytes) else name}"
    host, port = sock.getsockname()[:2]
    return f"{'https' if tls else 'http'}://{format_address(host, port)}"


@contextlib.contextmanager
def pid_file(path: str | None) -> Iterator[None]:
    """Writes this process's id to ``path`` for the duration, then removes the file."""
    if path is None:
        yield
        return
    with open(path, "w") as file:
        file.write(f"{os.getpid()}\n")
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
