"""Runs one server process: logging, app import, lifespan, bind, serve, graceful stop.

The order matters: the app is imported (and an ASGI app's lifespan startup has completed)
before any socket is bound, so an app that cannot start fails fast without having claimed
the port, and the port never accepts a request the app is not ready for.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable
from typing import Any

from amphicorn import _amphicorn
from amphicorn import log as logs
from amphicorn.asgi import Lifespan, LifespanFailure, LoopThread
from amphicorn.config import Bind, Config
from amphicorn.importer import import_app
from amphicorn.interfaces import detect, split_prefix
from amphicorn.sockets import format_address, listen


def run(app: str | Callable[..., Any], **settings: Any) -> None:
    """Serves ``app`` (a callable or an app spec such as ``"mysite.wsgi:application"``)
    until SIGINT or SIGTERM. Takes the :class:`~amphicorn.Config` fields as keyword
    arguments; ``bind`` may be a string or a list of ``HOST:PORT`` strings."""
    binds = settings.pop("bind", None)
    if binds is not None:
        settings["binds"] = [Bind.parse(text) for text in ([binds] if isinstance(binds, str) else binds)]
    serve(Config(app=app, **settings).validate())


def load_app(config: Config) -> tuple[Callable[..., Any], str]:
    """Imports the app and settles its interface: the config's, the spec prefix's, or detected."""
    interface = config.interface
    app: Any = config.app
    if isinstance(app, str):
        prefix, spec = split_prefix(app)
        interface = interface or prefix
        app = import_app(spec, config.app_dir, factory=config.factory)
    elif config.factory:
        app = app()
    return app, interface or detect(app)


def serve(config: Config) -> None:
    """Serves a validated config; returns after a graceful stop."""
    logs.configure(config.log_level)
    app, interface = load_app(config)
    loop_thread: LoopThread | None = None
    lifespan: Lifespan | None = None
    if interface == "asgi":
        loop_thread = LoopThread(config.loop)
        lifespan = Lifespan(app, config.lifespan)
        try:
            loop_thread.run(lifespan.startup())
        except BaseException:
            loop_thread.stop()
            raise
    try:
        server = _start(app, interface, config, loop_thread, lifespan)
        _serve_until_stopped(server)
    finally:
        if loop_thread is not None and lifespan is not None:
            _stop_asgi(loop_thread, lifespan)
    logs.logger.info("Stopped")


def _start(
    app: Callable[..., Any],
    interface: str,
    config: Config,
    loop_thread: LoopThread | None,
    lifespan: Lifespan | None,
) -> _amphicorn.Server:
    sockets: list[socket.socket] = []
    try:
        for bind in config.binds:
            sockets.extend(listen(bind))
        server = _amphicorn.Server(
            app,
            [sock.fileno() for sock in sockets],
            config,
            interface=interface,
            event_loop=loop_thread.loop if loop_thread else None,
            lifespan_state=lifespan.state if lifespan else None,
        )
        for sock in sockets:
            host, port = sock.getsockname()[:2]
            logs.logger.info("Listening on http://%s", format_address(host, port))
    finally:
        # The server holds duplicates of the descriptors.
        for sock in sockets:
            sock.close()
    if loop_thread is not None:
        bridge = server.asgi_bridge
        loop_thread.call(loop_thread.loop.add_reader, bridge.fileno(), bridge.drain)
        logs.logger.info("Serving ASGI app %s on the %s event loop", _describe(config.app), _loop_kind(loop_thread))
    else:
        logs.logger.info("Serving WSGI app %s with %d threads", _describe(config.app), config.threads)
    return server


def _serve_until_stopped(server: _amphicorn.Server) -> None:
    def stop(signum: int, _frame: object) -> None:
        logs.logger.info("Received %s, shutting down gracefully", signal.Signals(signum).name)
        server.stop()

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.serve()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stop_asgi(loop_thread: LoopThread, lifespan: Lifespan) -> None:
    try:
        loop_thread.run(lifespan.shutdown(), timeout=30)
    except LifespanFailure as failure:
        logs.logger.error("ASGI lifespan shutdown failed: %s", failure)
    except TimeoutError:
        logs.logger.error("ASGI lifespan shutdown did not finish within 30 seconds")
    finally:
        loop_thread.stop()


def _loop_kind(loop_thread: LoopThread) -> str:
    return "uvloop" if type(loop_thread.loop).__module__.startswith("uvloop") else "asyncio"


def _describe(app: object) -> str:
    return app if isinstance(app, str) else getattr(app, "__qualname__", repr(app))
