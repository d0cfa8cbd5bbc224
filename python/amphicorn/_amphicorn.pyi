"""Types of ``amphicorn._amphicorn``, the compiled Rust core (registered in ``src/lib.rs``).

The protocols ``_ServerSettings`` and ``_MountSpec`` say which attributes the core reads from
the objects Python passes in (through ``#[derive(FromPyObject)]`` structs);
``tests/unit/test_rust_attributes.py`` checks them against the Rust sources, and mypy checks
``Config`` and ``Mount`` against them. Names with ``_`` exist only here, for typing (``_Exchange``
is the type of what ``WsgiBridge.exchange`` returns).
"""

import asyncio
import contextvars
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, final

__all__ = [
    "DEFAULT_ACCESS_LOG_FORMAT",
    "Admin",
    "ClientDisconnected",
    "FileWrapper",
    "InputStream",
    "LoopBridge",
    "Server",
    "WakeChannel",
    "WsgiBridge",
    "__version__",
    "check_access_log_format",
    "check_mount_point",
    "check_tls",
    "defer_thread_wakeups",
]

__version__: str

#: The access-log format used when ``--access-log-format`` is not given.
DEFAULT_ACCESS_LOG_FORMAT: str

class ClientDisconnected(OSError):
    """The client closed the connection: the request body cannot be read, or the response
    cannot be sent. The one exception a running app sees from amphicorn."""

class _ServerSettings(Protocol):
    """What ``Server`` reads from the config (``ServerSettings`` and ``SharedSettings`` in
    ``src/server/``): ``amphicorn.config.Config`` provides it."""

    @property
    def io_threads(self) -> int: ...
    @property
    def graceful_timeout(self) -> float: ...
    @property
    def timeout_request_headers(self) -> float | None: ...
    @property
    def timeout_keep_alive(self) -> float | None: ...
    @property
    def max_header_size(self) -> int: ...
    @property
    def http(self) -> str: ...
    @property
    def http2_max_concurrent_streams(self) -> int: ...
    @property
    def proxy_headers(self) -> bool: ...
    @property
    def proxy_protocol(self) -> bool: ...
    @property
    def forwarded_allow_ips(self) -> Sequence[str]: ...
    @property
    def access_log(self) -> bool: ...
    @property
    def access_log_format(self) -> str: ...
    @property
    def log_format(self) -> str: ...
    @property
    def ssl_certfile(self) -> str | None: ...
    @property
    def ssl_keyfile(self) -> str | None: ...
    @property
    def ssl_keyfile_password(self) -> str | None: ...
    @property
    def ssl_ca_certs(self) -> str | None: ...
    @property
    def ssl_cert_reqs(self) -> str: ...
    @property
    def health_path(self) -> str | None: ...
    @property
    def preread_limit(self) -> int: ...
    @property
    def ws(self) -> str: ...
    @property
    def ws_max_size(self) -> int: ...

class _MountSpec(Protocol):
    """What ``Server`` reads from each mount (``MountSpec`` in ``src/server/mounts.rs``):
    ``amphicorn.server.Mount`` provides it."""

    @property
    def point(self) -> str: ...
    @property
    def app(self) -> object: ...
    @property
    def interface(self) -> str: ...
    @property
    def threads(self) -> int: ...
    @property
    def queue_size(self) -> int: ...
    @property
    def queue_timeout(self) -> float: ...
    @property
    def lifespan_state(self) -> object: ...
    @property
    def fallback(self) -> str | None: ...
    @property
    def max_body_size(self) -> int | None: ...
    @property
    def limit_concurrency(self) -> int | None: ...
    @property
    def timeout_request_body(self) -> float | None: ...
    @property
    def static_cache_control(self) -> str | None: ...
    @property
    def compress(self) -> list[str]: ...
    @property
    def compress_min_size(self) -> int: ...
    @property
    def compress_types(self) -> list[str]: ...
    @property
    def static_index(self) -> str | None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def canary(self) -> str | None: ...
    @property
    def canary_weight(self) -> float: ...
    @property
    def canary_cookie(self) -> str: ...
    @property
    def canary_key_header(self) -> str | None: ...
    @property
    def canary_max_error_rate(self) -> float | None: ...
    @property
    def canary_window(self) -> float: ...
    @property
    def shadow(self) -> str | None: ...
    @property
    def shadow_sample(self) -> float: ...
    @property
    def shadow_methods(self) -> list[str]: ...
    @property
    def shadow_ignore_headers(self) -> list[str]: ...
    @property
    def shadow_max_concurrency(self) -> int: ...

@final
class LoopBridge:
    """The event-loop end of an ASGI mount's bridge: register it with
    ``loop.add_reader(bridge.fileno(), bridge.drain)`` on the loop's thread."""

    def fileno(self) -> int: ...
    def drain(self) -> None: ...

@final
class Server:
    """Serves ``mounts`` on the listening sockets ``fds`` (duplicated: the caller may close
    its own) with the settings of ``config``; ASGI mounts need the ``event_loop`` that runs
    them. With ``max_requests``, ``serve()`` stops after that many requests."""

    def __new__(
        cls,
        mounts: Sequence[_MountSpec],
        fds: Sequence[int],
        config: _ServerSettings,
        *,
        event_loop: asyncio.AbstractEventLoop | None = None,
        max_requests: int | None = None,
        admin: Admin | None = None,
    ) -> Server: ...
    @property
    def asgi_bridges(self) -> list[LoopBridge]:
        """The loop-side ends of the ASGI mounts' bridges, in mount order."""
    @property
    def access_log_dropped(self) -> int:
        """Access-log lines dropped since start because stdout could not keep up."""
    def serve(self) -> int:
        """Serves until ``stop()``, then drains; returns how many WSGI threads were still busy."""
    def stop(self) -> None:
        """Asks a running ``serve()`` to drain and return; safe from signal handlers and threads."""
    def withdraw(self) -> None:
        """Reports the server not ready (``/readyz`` 503) while it goes on serving: the start of
        ``--shutdown-delay``, before ``stop()``."""
    def set_canary_weight(self, point: str, weight: float) -> bool:
        """Sets the weight (percent) of the canary of the mount at ``point``; False when that
        mount has no canary. Raises ValueError for a weight outside 0 to 100."""
    def reload_tls(self) -> str | None:
        """Reads the TLS certificate and key files again for new handshakes; returns the
        certificate file (None without TLS). Raises ValueError naming a file that cannot
        serve, and the previous pair stays in use."""

@final
class Admin:
    """The admin listener: serves ``/healthz``, ``/readyz`` and ``/metrics`` on the listening
    sockets ``fds`` (duplicated: the caller may close its own), on its own thread, from now
    until ``close()``. A ``Server`` made with it records into its metrics and is reported
    ready while it serves."""

    def __new__(cls, fds: Sequence[int], *, workers: bool = False) -> Admin:
        """With ``workers``, a supervisor's: it answers for the workers it is told about."""
    def worker_started(self, slot: int, pid: int, socket: str) -> None:
        """The worker ``pid`` serves its own admin listener on the Unix socket ``socket``; its
        per-process figures are labelled ``worker="<slot>"``."""
    def worker_ready(self, socket: str, ready: bool) -> None:
        """The worker of ``socket`` serves (``ready``), or was asked to stop: ``/canary``
        covers the ready ones."""
    def canary_weights(self) -> dict[str, float]:
        """The canary weights set through this supervisor (``PUT /canary/<mount>``, or a
        rollback in a worker), by mount address: new workers start with them."""
    def forget_canary_weights(self, mounts: list[str]) -> None:
        """Forgets the canary weights set for ``mounts`` (SIGHUP read the config file's anew)."""
    def worker_gone(self, socket: str) -> None:
        """The worker of ``socket`` is gone; what it counted is kept, in ``/metrics`` and
        ``/status``."""
    def worker_restarted(self, cause: str) -> None:
        """A supervisor replaced a worker for ``cause`` (``max_requests``, ``crash``,
        ``reload``); ValueError for another."""
    def set_ready(self, ready: bool) -> None:
        """A supervisor's ``/readyz``: 200 while ``ready``."""
    def leave_final_figures(self, socket: str) -> None:
        """A worker's, as it exits: leaves its exposition and its ``/status`` next to its
        admin socket ``socket``, for the supervisor to read once it is gone; OSError when
        they cannot be written."""
    def close(self) -> None:
        """Stops answering: the sockets close, open connections are dropped."""

def check_mount_point(text: str) -> str:
    """The mount address as the router reads it; raises ValueError naming what is wrong."""

def check_access_log_format(format: str) -> None:
    """Raises ValueError naming the atom of ``format`` it does not know."""

def check_tls(
    certfile: str, keyfile: str, *, password: str | None = None, ca_certs: str | None = None, cert_reqs: str = "none"
) -> None:
    """Raises ValueError naming the setting and the file when the PEM certificate chain and
    private key cannot serve TLS (unreadable, none in the file, a key that does not match, or
    an encrypted key that ``password`` does not open), or when client certificates
    (``cert_reqs`` ``none|optional|required``) cannot be verified against ``ca_certs``."""

def defer_thread_wakeups() -> None:
    """Makes the calling thread a ``SCHED_BATCH`` thread on Linux (a no-op elsewhere): woken by
    the I/O thread, it runs once that thread waits, rather than preempting it."""

@final
class FileWrapper:
    """``wsgi.file_wrapper``: a regular file is sent with zero-copy, anything else read in
    blocks of ``block_size``."""

    def __new__(cls, filelike: Any, block_size: int = 8192) -> FileWrapper: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __next__(self) -> Any: ...
    def close(self) -> None: ...

@final
class InputStream:
    """``wsgi.input``: the request body, streamed; made by the core, not by Python code."""

    def read(self, size: int | None = None) -> bytes: ...
    def readline(self, size: int | None = None) -> bytes: ...
    def readlines(self, hint: int | None = None) -> list[bytes]: ...
    def __iter__(self) -> Iterator[bytes]: ...
    def __next__(self) -> bytes: ...
    def readable(self) -> bool: ...

@final
class WakeChannel:
    """How a WSGI pool wakes one event loop's futures: ``loop.add_reader(channel.fileno(),
    channel.drain)``."""

    def __new__(cls) -> WakeChannel: ...
    def fileno(self) -> int: ...
    def drain(self) -> None: ...

@final
class _Exchange:
    """One request through a ``WsgiBridge``; each ``poll_*`` returns None while it waits, and
    then resolves ``future`` when it may have progressed."""

    def poll_submit(self, future: asyncio.Future[None]) -> bool | None: ...
    def poll_head(
        self, future: asyncio.Future[None]
    ) -> tuple[int, list[tuple[bytes, bytes]], tuple[bytes, bool] | None] | None: ...
    def poll_body(self, future: asyncio.Future[None]) -> tuple[bytes, bool] | None: ...
    def feed(self, chunk: bytes, more_body: bool) -> bool: ...
    def poll_feed(self, future: asyncio.Future[None]) -> bool | None: ...
    def disconnect(self) -> None: ...
    def close(self) -> None: ...

@final
class WsgiBridge:
    """A WSGI app on a pool of ``threads`` threads, with ``queue_size`` requests waiting at
    most, for ``amphicorn.WSGIMiddleware``."""

    def __new__(cls, app: Callable[..., Any], threads: int, queue_size: int, name: str) -> WsgiBridge: ...
    def exchange(
        self,
        scope: dict[str, Any],
        body: bytes,
        more_body: bool,
        context: contextvars.Context,
        channel: WakeChannel,
    ) -> _Exchange: ...
    def close(self) -> None: ...
