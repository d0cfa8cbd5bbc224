"""The validated server configuration.

Every source (CLI flags, ``AMPHICORN_*`` variables, keyword arguments to :func:`amphicorn.run`)
ends up in one :class:`Config`, checked once by :meth:`Config.validate` before anything
binds, with the converter each setting declares in :mod:`amphicorn.settings`. A bad value
raises :class:`ConfigError` naming the setting and the value. The field names are read by
the Rust core: they do not change.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Callable
from typing import Any

from amphicorn import mount_links, settings
from amphicorn._amphicorn import DEFAULT_ACCESS_LOG_FORMAT, check_mount_point, check_tls
from amphicorn.binds import DEFAULT_HOST, DEFAULT_PORT, Bind, parse_port
from amphicorn.errors import ConfigError
from amphicorn.interfaces import STATIC_PREFIX, static_directory
from amphicorn.settings import CANARY_KEYS, LOG_FORMATS, LOG_LEVELS, MIN_HEADER_SIZE, SHADOW_KEYS, WS_MODES

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "MIN_HEADER_SIZE",
    "WS_MODES",
    "Bind",
    "Config",
    "ConfigError",
    "MountConfig",
    "default_threads",
    "parse_port",
]


def default_threads() -> int:
    """WSGI pool size: four threads per core, at most 32, as WSGI apps mostly wait on I/O."""
    return min(32, 4 * (os.cpu_count() or 1))


@dataclasses.dataclass
class MountConfig:
    """One app mounted at a path prefix, optionally host-qualified (``api.example.com/v2``).

    Settings left as None take the server-wide value.
    """

    point: str
    app: str | Callable[..., Any]
    interface: str | None = None
    threads: int | None = None
    queue_size: int | None = None
    queue_timeout: float | None = None
    #: A name for other mounts' ``fallback`` to refer to (the prefix also works).
    name: str | None = None
    #: The mount (name or prefix) that answers when this one says 404.
    fallback: str | None = None
    max_body_size: int | None = None
    limit_concurrency: int | None = None
    #: Seconds the client may pause while sending a body, before 408.
    timeout_request_body: float | None = None
    #: A static mount's ``Cache-Control`` (names with a content hash get a year, immutable).
    static_cache_control: str | None = None
    #: The file a static mount serves for a directory.
    static_index: str | None = None
    #: Codings its responses are compressed with (``[]``: none); None takes the server's.
    compress: list[str] | None = None
    compress_min_size: int | None = None
    compress_types: list[str] | None = None
    #: The weighted canary (amphicorn/canary.py): the mount (name or prefix) that takes
    #: ``canary_weight`` percent of this one's requests, sticky by cookie or key header.
    canary: str | None = None
    canary_weight: float | None = None
    canary_cookie: str | None = None
    canary_key_header: str | None = None
    canary_max_error_rate: float | None = None
    canary_window: float | None = None
    #: Shadow traffic (amphicorn/shadow.py): the mount (name or prefix) that gets a copy of
    #: a share of this one's requests in the background, its answers compared with ours.
    shadow: str | None = None
    shadow_sample: float | None = None
    shadow_methods: list[str] | None = None
    shadow_ignore_headers: list[str] | None = None
    shadow_max_concurrency: int | None = None

    @classmethod
    def parse(cls, text: str, *, setting: str = "--mount") -> MountConfig:
        """``PREFIX=APP``, e.g. ``/legacy=wsgi:mysite.wsgi:application``."""
        point, separator, app = text.partition("=")
        if not separator or not point.strip() or not app.strip():
            raise ConfigError(f"{setting} {text!r}: expected PREFIX=APP, e.g. /api=myapi.main:app")
        return cls(point.strip(), app.strip())


@dataclasses.dataclass
class Config:
    """Everything one server process needs. Build it, then call :meth:`validate`."""

    #: The app at ``/``; may be None when ``mounts`` are given.
    app: str | Callable[..., Any] | None = None
    #: More apps, each at its own prefix.
    mounts: list[MountConfig] = dataclasses.field(default_factory=list)
    binds: list[Bind] = dataclasses.field(default_factory=lambda: [Bind(DEFAULT_HOST, DEFAULT_PORT)])
    threads: int = dataclasses.field(default_factory=default_threads)
    log_level: str = "info"
    #: Requests that may wait for a free WSGI thread; more are refused with 503.
    queue_size: int = 1024
    #: Seconds a request may wait in that queue before it gets 503.
    queue_timeout: float = 30.0
    #: Request bodies up to this many bytes are read before a WSGI thread is taken.
    preread_limit: int = 64 * 1024
    #: tokio worker threads for sockets and HTTP.
    io_threads: int = dataclasses.field(default_factory=lambda: os.cpu_count() or 1)
    #: Seconds in-flight requests get to finish after a stop signal.
    graceful_timeout: float = 30.0
    #: Seconds between a stop signal (when readiness turns 503) and the start of the drain,
    #: during which requests are served as usual: endpoints and balancers stop sending first.
    shutdown_delay: float = 0.0
    #: Directory put first on ``sys.path`` before the app is imported.
    app_dir: str = "."
    #: ``"wsgi"``, ``"asgi"`` or None to detect (an ``asgi:``/``wsgi:`` spec prefix also sets it).
    interface: str | None = None
    #: Call the named attribute to get the app.
    factory: bool = False
    #: Event loop for ASGI apps: ``auto`` (uvloop if installed), ``asyncio`` or ``uvloop``.
    loop: str = "auto"
    #: ASGI lifespan: ``auto``, ``on`` or ``off``.
    lifespan: str = "auto"
    #: WebSockets for ASGI apps: ``auto`` (on) or ``none`` (upgrade requests reach the app as HTTP).
    ws: str = "auto"
    #: Largest request body, in bytes (None: no limit); larger ones get 413.
    max_body_size: int | None = None
    #: Most requests in one mount's app at once (None: no limit); more get 503 at once.
    limit_concurrency: int | None = None
    #: Largest WebSocket message accepted from a client, in bytes; larger ones close with 1009.
    ws_max_size: int = 16 * 1024 * 1024
    #: ``Cache-Control`` of the files of ``static:`` mounts (None: none; hashed names get a year).
    static_cache_control: str | None = None
    #: The file ``static:`` mounts serve for a directory (None: a directory is 404).
    static_index: str | None = None
    #: Codings responses are compressed with, in order of preference (empty: off).
    compress: list[str] = dataclasses.field(default_factory=list)
    #: Responses known to be shorter than this many bytes are not compressed.
    compress_min_size: int = 1024
    #: The Content-Types compressed.
    compress_types: list[str] = dataclasses.field(default_factory=lambda: list(settings.COMPRESS_TYPES))

    #: The TOML file the settings were read from (``--config``); SIGHUP re-reads its
    #: canary weights (amphicorn/canary.py).
    config_file: str | None = None

    # -- process management (amphicorn.supervisor)
    #: Worker processes; more than one (or ``reload``, or ``limit_max_requests``) runs a supervisor.
    workers: int = 1
    #: A worker serves this many requests (plus up to ``limit_max_requests_jitter``), then is replaced.
    limit_max_requests: int | None = None
    limit_max_requests_jitter: int = 0
    #: ``gc.freeze()`` once the apps are imported and started, before serving.
    gc_freeze: bool = True
    #: Restart the workers when a ``.py`` file under ``reload_dirs`` changes (needs watchfiles).
    reload: bool = False
    #: Directories ``reload`` watches; empty means the working directory.
    reload_dirs: list[str] = dataclasses.field(default_factory=list)
    #: A file the server writes its process id to once bound, and removes on exit.
    pid_file: str | None = None
    #: A gunicorn.conf.py whose settings the CLI mapped; each serving process calls its
    #: worker hooks (see gunicorn_config.py).
    gunicorn_config: str | None = None

    # -- observability (see src/server/admin.rs)
    #: ``HOST:PORT`` or ``unix:PATH`` of the admin listener (``/healthz``, ``/readyz``,
    #: ``/metrics``), answered by Rust apart from the apps; None: no admin listener.
    admin_bind: str | None = None
    #: A path (``/healthz``) answered ``200 ok`` on the apps' listeners, before any mount.
    health_path: str | None = None

    # -- limits and timeouts of connections (see src/server/timeouts.rs)
    #: Seconds an idle keep-alive connection stays open after a response.
    timeout_keep_alive: float = 5.0
    #: Seconds a client has to send a whole request head (line and headers), else 408.
    timeout_request_headers: float = 10.0
    #: Seconds a client may pause while sending a request body, else 408 (per mount too).
    timeout_request_body: float = 60.0
    #: Bytes a request line and headers may take together, else 431 (at least 8192); also
    #: the header list size HTTP/2 clients are told.
    max_header_size: int = 64 * 1024
    #: HTTP versions served: ``auto`` (HTTP/1.1 and HTTP/2), ``1`` or ``2`` (see src/server/protocol.rs).
    http: str = "auto"
    #: HTTP/2 streams a client may have open at once on one connection.
    http2_max_concurrent_streams: int = 100
    #: Connections the kernel queues before amphicorn accepts them.
    backlog: int = 2048

    # -- TLS (see src/server/tls.rs)
    #: PEM certificate chain (end-entity first): with ``ssl_keyfile``, TCP listeners serve HTTPS.
    ssl_certfile: str | None = None
    #: PEM private key of ``ssl_certfile``: RSA or ECDSA, in PKCS#1, PKCS#8 or SEC1, or encrypted PKCS#8.
    ssl_keyfile: str | None = None
    #: The password of an encrypted ``ssl_keyfile``.
    ssl_keyfile_password: str | None = dataclasses.field(default=None, repr=False)
    #: PEM CA certificates that client certificates are verified against.
    ssl_ca_certs: str | None = None
    #: Client certificates: ``none`` (not asked for), ``optional`` or ``required``.
    ssl_cert_reqs: str = "none"

    # -- proxies in front (see src/server/proxy.rs and proxy_protocol.rs)
    #: Believe Forwarded / X-Forwarded-For/-Proto/-Host from the trusted peers.
    proxy_headers: bool = True
    #: The trusted peers: addresses, networks (10.0.0.0/8) or ``*``.
    forwarded_allow_ips: list[str] = dataclasses.field(default_factory=lambda: ["127.0.0.1", "::1"])
    #: Trusted peers open each connection with a PROXY protocol (v1 or v2) header.
    proxy_protocol: bool = False

    # -- logging (see log.py, and src/server/access_log.rs for the access log)
    #: Write one access-log line per request to stdout, from Rust.
    access_log: bool = False
    #: gunicorn-style atoms: ``%(h)s %(t)s "%(r)s" %(s)s %(b)s %(L)s %(mount)s ...``.
    access_log_format: str = DEFAULT_ACCESS_LOG_FORMAT
    #: ``text`` or ``json`` (one JSON object per line, for the access and the error log).
    log_format: str = "text"
    #: A logging configuration file (dictConfig JSON or YAML, or fileConfig ini), as uvicorn.
    log_config: str | None = None

    def supervised(self) -> bool:
        """Whether this config needs worker processes under a supervisor."""
        return self.workers > 1 or self.reload or self.limit_max_requests is not None

    def all_mounts(self) -> list[MountConfig]:
        """The mounts in order, the positional app first (at ``/``)."""
        root = [MountConfig("/", self.app, self.interface)] if self.app is not None else []
        return root + self.mounts

    def resolve_fallback(self, mount: MountConfig) -> MountConfig | None:
        """The mount that ``mount.fallback`` names, by name or by prefix."""
        return None if mount.fallback is None else self.resolve(mount.fallback)

    def resolve(self, reference: str) -> MountConfig | None:
        """The mount ``reference`` names (a fallback, a canary, a shadow), by name or by prefix."""
        for other in self.all_mounts():
            if reference in (other.name, other.point) or (
                mount_address(reference) is not None and mount_address(reference) == mount_address(other.point)
            ):
                return other
        return None

    def validate(self) -> Config:
        """Checks every setting with its converter (:mod:`amphicorn.settings`) and stores the
        typed value; raises :class:`ConfigError` naming the first bad one and its value."""
        if isinstance(self.app, str) and not self.app.strip():
            raise ConfigError("app: expected an app spec like 'module:app'")
        root_directory = static_directory(self.app)
        if root_directory and os.path.isdir(root_directory):
            # all_mounts() makes the root's MountConfig anew each time: keep the absolute path.
            self.app = STATIC_PREFIX + os.path.abspath(root_directory)
        mounts = self.all_mounts()
        if not mounts:
            raise ConfigError("no app given: pass one like 'mysite.wsgi:application', or --mount PREFIX=APP")
        seen: dict[str, str] = {}
        for mount in mounts:
            try:
                where = check_mount_point(mount.point)
            except ValueError as error:
                raise ConfigError(f"mount {mount.point!r}: {error}") from None
            if where in seen:
                raise ConfigError(f"mount {mount.point!r}: {where} is already mounted ({seen[where]})")
            seen[where] = str(mount.app)
            _validate_static(mount, where)
            for setting in settings.MOUNT_SETTINGS:
                assert setting.field is not None
                value = getattr(mount, setting.field)
                if value is not None:
                    setattr(mount, setting.field, setting.convert(value, f"{setting.field} of mount {where}"))
        for mount in mounts:
            if mount.fallback is not None:
                target = self.resolve_fallback(mount)
                if target is None or target is mount:
                    raise ConfigError(
                        f"fallback {mount.fallback!r} of mount {mount.point!r}: "
                        "expected the name or prefix of another mount"
                    )
        mount_links.validate("canary", CANARY_KEYS, mounts, self.resolve)
        mount_links.validate("shadow", SHADOW_KEYS, mounts, self.resolve)
        if not self.binds:
            raise ConfigError("bind: at least one address is needed")
        for bind in self.binds:
            if not isinstance(bind, Bind):
                raise ConfigError(f"binds {bind!r}: expected a Bind (amphicorn.run takes bind='HOST:PORT')")
        for setting in settings.SETTINGS:
            if setting.field is None or setting.composite:
                continue
            value = getattr(self, setting.field)
            if value is not None or not setting.optional:
                setattr(self, setting.field, setting.convert(value, setting.field))
        self._validate_tls()
        self._validate_processes()
        self._validate_admin()
        return self

    def admin_address(self) -> Bind | None:
        """The admin listener's address, parsed (None without one)."""
        return None if self.admin_bind is None else Bind.parse(self.admin_bind, setting="admin-bind")

    def _validate_admin(self) -> None:
        address = self.admin_address()
        if address is None:
            return
        if address.fd is not None:
            raise ConfigError(f"admin-bind {self.admin_bind!r}: expected HOST:PORT or unix:PATH")

    def _validate_tls(self) -> None:
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            given, missing = (
                ("ssl_certfile", "ssl_keyfile") if self.ssl_keyfile is None else ("ssl_keyfile", "ssl_certfile")
            )
            raise ConfigError(f"{given} {getattr(self, given)!r}: TLS needs {missing} too (give both, or neither)")
        if self.ssl_certfile is None:
            for name in ("ssl_keyfile_password", "ssl_ca_certs"):
                if getattr(self, name) is not None:
                    raise ConfigError(f"{name}: given, but TLS is off (give ssl_certfile and ssl_keyfile)")
            if self.ssl_cert_reqs != "none":
                raise ConfigError(
                    f"ssl_cert_reqs {self.ssl_cert_reqs!r}: client certificates need TLS (ssl_certfile and ssl_keyfile)"
                )
        if self.ssl_certfile is not None and self.ssl_keyfile is not None:
            try:
                check_tls(
                    self.ssl_certfile,
                    self.ssl_keyfile,
                    password=self.ssl_keyfile_password,
                    ca_certs=self.ssl_ca_certs,
                    cert_reqs=self.ssl_cert_reqs,
                )
            except ValueError as error:
                raise ConfigError(str(error)) from None

    def _validate_processes(self) -> None:
        if self.reload and importlib.util.find_spec("watchfiles") is None:
            raise ConfigError("reload: needs watchfiles, which is not installed (pip install 'amphicorn[reload]')")
        if self.supervised():
            # Workers are separate processes: each imports the app from its spec.
            for mount in self.all_mounts():
                if not isinstance(mount.app, str):
                    raise ConfigError(
                        f"mount {mount.point!r}: workers, reload and max-requests need the app as an import "
                        "string like 'module:app', not an object"
                    )


def _validate_static(mount: MountConfig, where: str) -> None:
    """A ``static:PATH`` mount names an existing directory (made absolute, as workers may
    start elsewhere) and no interface."""
    directory = static_directory(mount.app)
    if directory is None:
        return
    if not directory or not os.path.isdir(directory):
        raise ConfigError(f"mount {where}: static directory {directory!r} does not exist or is not a directory")
    if mount.interface is not None:
        raise ConfigError(f"mount {where}: interface {mount.interface!r} given for static files (static:{directory})")
    mount.app = STATIC_PREFIX + os.path.abspath(directory)


def mount_address(point: str | None) -> str | None:
    """A mount's address as the Rust core writes it (``/api/`` is ``/api``); None for one
    that is not an address."""
    try:
        return check_mount_point(point) if point else None
    except ValueError:
        return None
