"""Runs one server process: logging, app import, lifespan, bind, serve, graceful stop.

The order matters: every app is imported (and every ASGI app's lifespan startup has
completed, in mount order) before any socket is bound, so an app that cannot start fails
fast without having claimed the port, and the port never accepts a request the apps are not
ready for. Lifespan shutdown runs in reverse mount order after the last request.

A worker process under the supervisor runs the same path on sockets the supervisor bound
(``listeners``), and reports when it is ready to serve.

The admin listener (``--admin-bind``) is the exception: it is bound and answering first,
before any app is imported, so that ``/healthz`` answers during a slow start and
``/readyz`` says 503 until the apps' listeners serve (src/server/admin.rs).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

from amphicorn import _amphicorn, gunicorn_hooks
from amphicorn import canary as canaries
from amphicorn import log as logs
from amphicorn import shadow as shadows
from amphicorn.admin import admin_listener
from amphicorn.asgi import Lifespan, LoopThread
from amphicorn.config import Config, MountConfig
from amphicorn.errors import ConfigError, LifespanFailure
from amphicorn.importer import import_app
from amphicorn.interfaces import detect, split_prefix, static_directory
from amphicorn.sockets import Listeners, describe, listen_all, pid_file
from amphicorn.stopper import Stopper
from amphicorn.tls_reload import TlsReloader, tls_watcher

#: Seconds each ASGI mount's lifespan shutdown may take (listed with every other timer in
#: src/timers.rs).
LIFESPAN_SHUTDOWN_TIMEOUT = 30.0


@dataclasses.dataclass
class Mount:
    """A loaded mount, as the Rust core reads it (by attribute)."""

    point: str
    #: The app; for a static mount (interface ``static``), its directory, absolute.
    app: Callable[..., Any] | str
    interface: str
    threads: int
    queue_size: int
    queue_timeout: float
    description: str
    lifespan_state: dict[str, Any] | None = None
    #: The prefix of the mount that answers when this one says 404.
    fallback: str | None = None
    max_body_size: int | None = None
    limit_concurrency: int | None = None
    timeout_request_body: float | None = None
    static_cache_control: str | None = None
    static_index: str | None = None
    #: Codings responses are compressed with (empty: off), the least length compressed, the types.
    compress: list[str] = dataclasses.field(default_factory=list)
    compress_min_size: int = 1024
    compress_types: list[str] = dataclasses.field(default_factory=list)
    #: Its name, and its weighted canary (amphicorn/canary.py; ``canary``: the canary's prefix).
    name: str | None = None
    canary: str | None = None
    canary_weight: float = 0.0
    canary_cookie: str = canaries.DEFAULT_COOKIE
    canary_key_header: str | None = None
    canary_max_error_rate: float | None = None
    canary_window: float = canaries.DEFAULT_WINDOW
    #: Its shadow (amphicorn/shadow.py; ``shadow``: the shadow's prefix) and how it samples.
    shadow: str | None = None
    shadow_sample: float = 1.0
    shadow_methods: list[str] = dataclasses.field(default_factory=lambda: list(shadows.DEFAULT_METHODS))
    shadow_ignore_headers: list[str] = dataclasses.field(default_factory=list)
    shadow_max_concurrency: int = shadows.DEFAULT_MAX_CONCURRENCY


def compression(mount: MountConfig, config: Config) -> dict[str, Any]:
    """A mount's compression settings: its own where it sets them, else the server's."""
    return {
        "compress": config.compress if mount.compress is None else mount.compress,
        "compress_min_size": config.compress_min_size if mount.compress_min_size is None else mount.compress_min_size,
        "compress_types": config.compress_types if mount.compress_types is None else mount.compress_types,
    }


def load_mount(mount: MountConfig, config: Config) -> Mount:
    """Imports a mount's app and settles its interface: the mount's, the spec prefix's, or
    detected; a ``static:PATH`` mount imports nothing."""
    directory = static_directory(mount.app)
    if directory is not None:
        return Mount(
            point=mount.point,
            app=os.path.abspath(directory),
            interface="static",
            threads=0,
            queue_size=0,
            queue_timeout=0.0,
            description=f"static files from {os.path.abspath(directory)}",
            fallback=fallback.point if (fallback := config.resolve_fallback(mount)) is not None else None,
            max_body_size=config.max_body_size if mount.max_body_size is None else mount.max_body_size,
            limit_concurrency=mount.limit_concurrency or config.limit_concurrency,
            timeout_request_body=mount.timeout_request_body or config.timeout_request_body,
            static_cache_control=mount.static_cache_control or config.static_cache_control,
            static_index=mount.static_index or config.static_index,
            **compression(mount, config),
            **canaries.settings_for(mount, config.resolve),
            **shadows.settings_for(mount, config.resolve),
        )
    interface = mount.interface
    app: Any = mount.app
    if isinstance(app, str):
        prefix, spec = split_prefix(app)
        interface = interface or prefix
        app = import_app(spec, config.app_dir, factory=config.factory)
    elif config.factory:
        app = app()
    return Mount(
        point=mount.point,
        app=app,
        interface=interface or config.interface or detect(app),
        threads=mount.threads or config.threads,
        queue_size=mount.queue_size or config.queue_size,
        queue_timeout=config.queue_timeout if mount.queue_timeout is None else mount.queue_timeout,
        description=mount.app if isinstance(mount.app, str) else getattr(app, "__qualname__", repr(app)),
        fallback=fallback.point if (fallback := config.resolve_fallback(mount)) is not None else None,
        max_body_size=config.max_body_size if mount.max_body_size is None else mount.max_body_size,
        limit_concurrency=mount.limit_concurrency or config.limit_concurrency,
        timeout_request_body=mount.timeout_request_body or config.timeout_request_body,
        **compression(mount, config),
        **canaries.settings_for(mount, config.resolve),
        **shadows.settings_for(mount, config.resolve),
    )


def serve(
    config: Config,
    listeners: Listeners | None = None,
    *,
    on_ready: Callable[[], None] | None = None,
    on_reload: Callable[[], None] | None = None,
    max_requests: int | None = None,
    exit_when_stuck: bool = False,
    private_admin: bool = False,
) -> None:
    """Serves a validated config; returns after a graceful stop (or after ``max_requests``).

    Without ``listeners`` it binds ``config.binds`` itself (and writes ``config.pid_file``);
    a worker passes the sockets its supervisor bound, and ``on_ready`` once it can serve.
    Either way the sockets' Python objects are closed once the Rust server holds its own
    copies, so that this process stops listening when the server stops accepting.
    With ``exit_when_stuck`` (the CLI and workers: the process is ours to end), WSGI threads
    still busy after the graceful timeout make it end the process with ``os._exit(0)``
    rather than risk waiting for them at interpreter exit. A worker's admin listener is
    ``private_admin``: its supervisor's reads it (``admin.py``).
    """
    logs.configure(config.log_level, config.log_format, config.log_config)
    with admin_listener(config, "worker" if private_admin else "single") as admin:
        _serve(config, listeners, admin, on_ready, on_reload, max_requests, exit_when_stuck)


def _serve(
    config: Config,
    listeners: Listeners | None,
    admin: _amphicorn.Admin | None,
    on_ready: Callable[[], None] | None,
    on_reload: Callable[[], None] | None,
    max_requests: int | None,
    exit_when_stuck: bool,
) -> None:
    hooks = gunicorn_hooks.worker_hooks(config.gunicorn_config)
    stopper = Stopper(config.shutdown_delay, on_interrupt=None if hooks is None else lambda: hooks.call("worker_int"))
    stuck = 0
    mounts = [load_mount(mount, config) for mount in config.all_mounts()]
    if hooks is not None:
        for mount in mounts:
            if mount.interface == "wsgi" and callable(mount.app):
                mount.app = hooks.wrap_wsgi(mount.app)
    asgi_mounts = [mount for mount in mounts if mount.interface == "asgi"]
    loop_thread = LoopThread(config.loop) if asgi_mounts else None
    started: list[tuple[Mount, Lifespan]] = []
    try:
        if loop_thread is not None:
            for mount in asgi_mounts:
                assert not isinstance(mount.app, str), "an ASGI mount's app is a callable"
                lifespan = Lifespan(mount.app, config.lifespan)
                mount.lifespan_state = lifespan.state
                try:
                    loop_thread.run(lifespan.startup())
                except LifespanFailure as failure:
                    raise LifespanFailure(
                        f"ASGI lifespan startup failed: mount {mount.point} ({mount.description}): {failure}"
                    ) from None
                started.append((mount, lifespan))
        # A single process re-reads its certificate on SIGHUP; a worker leaves SIGHUP to its
        # supervisor, whose rolling restart starts workers that read the files anew.
        reloader = TlsReloader(
            enabled=listeners is None and config.ssl_certfile is not None, config_file=config.config_file
        )
        if listeners is None and any(mount.canary is not None for mount in mounts):
            reloader.canaries = True
        if listeners is None:
            reloader.on_reload = on_reload
        watcher = tls_watcher(config, reloader)
        with stopper.handling_signals(), reloader.handling_signal(), _bound(config, listeners) as sockets:
            server = _start(mounts, config, loop_thread, sockets, max_requests, admin)
            # The server holds duplicates of the descriptors, which it closes when it stops
            # accepting. Ours would keep the sockets open until this process exits: a worker
            # would keep a Unix socket its supervisor gave up on listening, its queued
            # clients waiting for the drain (`Listeners.refuse_new`).
            for sock in sockets.sockets:
                sock.close()
            stopper.attach(server)
            if on_ready is not None:
                on_ready()
            reloader.attach(server)
            if hooks is not None:
                hooks.call("post_worker_init")
            if watcher is not None:
                watcher.start()
            if config.gc_freeze:
                # The modules, the apps and what their startup built live as long as the
                # process: the collections that requests trigger need not walk them again.
                gc.freeze()
            try:
                stuck = server.serve()
            finally:
                if watcher is not None:
                    watcher.stop()
            if max_requests is not None and not stopper.requested:
                logs.logger.info("Served its %d requests (max-requests); this worker stops", max_requests)
    finally:
        if loop_thread is not None:
            _shutdown_lifespans(loop_thread, started)
            loop_thread.stop()
        if hooks is not None:
            hooks.call("worker_exit", gunicorn_hooks.ServerView.of_worker(hooks))
    if stuck:
        logs.logger.warning(
            "%d WSGI threads were still busy after the graceful timeout (%gs); their requests are abandoned",
            stuck,
            config.graceful_timeout,
        )
        if exit_when_stuck:
            # Those threads are blocked in app code and may never return: exit without them.
            logs.logger.info("Stopped")
            logging.shutdown()
            os._exit(0)
    logs.logger.info("Stopped")


@contextlib.contextmanager
def _bound(config: Config, listeners: Listeners | None) -> Iterator[Listeners]:
    """The given sockets, or ours, bound now and (with the pid file) cleaned up after."""
    if listeners is not None:
        yield listeners
        return
    listeners = listen_all(config.binds, config.backlog)
    try:
        if listeners.activated:
            logs.logger.info("Using %d socket(s) from systemd socket activation", len(listeners.sockets))
        with pid_file(config.pid_file):
            for sock in listeners.sockets:
                logs.logger.info("Listening on %s", describe(sock, tls=config.ssl_certfile is not None))
            yield listeners
    finally:
        listeners.close()


def _start(
    mounts: list[Mount],
    config: Config,
    loop_thread: LoopThread | None,
    listeners: Listeners,
    max_requests: int | None,
    admin: _amphicorn.Admin | None,
) -> _amphicorn.Server:
    try:
        server = _amphicorn.Server(
            mounts,
            listeners.fds(),
            config,
            event_loop=loop_thread.loop if loop_thread else None,
            max_requests=max_requests,
            admin=admin,
        )
    except ValueError as error:
        # A setting the checks passed that no longer holds (a TLS file replaced since).
        raise ConfigError(str(error)) from None
    if loop_thread is not None:
        for bridge in server.asgi_bridges:
            loop_thread.call(loop_thread.loop.add_reader, bridge.fileno(), bridge.drain)
    for mount in mounts:
        if mount.interface == "static":
            logs.logger.info("Serving %s at %s, by Rust", mount.description, mount.point)
        else:
            if mount.interface == "asgi":
                assert loop_thread is not None
                how = f"on the {_loop_kind(loop_thread)} event loop"
            else:
                how = f"with {mount.threads} threads"
            logs.logger.info("Serving %s app %s at %s %s", mount.interface.upper(), mount.description, mount.point, how)
        if mount.fallback is not None:
            logs.logger.info("Requests to %s that it answers with 404 go on to %s", mount.point, mount.fallback)
        if mount.canary is not None:
            logs.logger.info(
                "%g%% of the requests to %s go to its canary %s", mount.canary_weight, mount.point, mount.canary
            )
        if mount.shadow is not None:
            logs.logger.info(
                "A share (%g) of the requests to %s also run on %s", mount.shadow_sample, mount.point, mount.shadow
            )
    return server


def _shutdown_lifespans(loop_thread: LoopThread, started: list[tuple[Mount, Lifespan]]) -> None:
    for mount, lifespan in reversed(started):
        try:
            loop_thread.run(lifespan.shutdown(), timeout=LIFESPAN_SHUTDOWN_TIMEOUT)
        except LifespanFailure as failure:
            logs.logger.error("ASGI lifespan shutdown of mount %s failed: %s", mount.point, failure)
        except TimeoutError:
            logs.logger.error(
                "ASGI lifespan shutdown of mount %s did not finish within %g seconds",
                mount.point,
                LIFESPAN_SHUTDOWN_TIMEOUT,
            )


def _loop_kind(loop_thread: LoopThread) -> str:
    return "uvloop" if type(loop_thread.loop).__module__.startswith("uvloop") else "asyncio"
