"""Runs one server process: logging, app import, bind, serve, graceful stop.

The order matters: the app is imported before any socket is bound, so an app that cannot
load fails fast without having claimed the port.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable
from typing import Any

from amphicorn import _amphicorn
from amphicorn import log as logs
from amphicorn.config import Bind, Config
from amphicorn.importer import import_app
from amphicorn.sockets import format_address, listen


def run(app: str | Callable[..., Any], **settings: Any) -> None:
    """Serves ``app`` (a callable or an app spec such as ``"mysite.wsgi:application"``)
    until SIGINT or SIGTERM. Takes the :class:`~amphicorn.Config` fields as keyword
    arguments; ``bind`` may be a string or a list of ``HOST:PORT`` strings."""
    binds = settings.pop("bind", None)
    if binds is not None:
        settings["binds"] = [Bind.parse(text) for text in ([binds] if isinstance(binds, str) else binds)]
    serve(Config(app=app, **settings).validate())


def serve(config: Config) -> None:
    """Serves a validated config; returns after a graceful stop."""
    logs.configure(config.log_level)
    app = import_app(config.app, config.app_dir) if isinstance(config.app, str) else config.app
    sockets: list[socket.socket] = []
    try:
        for bind in config.binds:
            sockets.extend(listen(bind))
        server = _amphicorn.Server(
            app,
            [sock.fileno() for sock in sockets],
            threads=config.threads,
            queue_size=config.queue_size,
            queue_timeout=config.queue_timeout,
            preread_limit=config.preread_limit,
            io_threads=config.io_threads,
            graceful_timeout=config.graceful_timeout,
        )
        for sock in sockets:
            host, port = sock.getsockname()[:2]
            logs.logger.info("Listening on http://%s", format_address(host, port))
    finally:
        # The server holds duplicates of the descriptors.
        for sock in sockets:
            sock.close()
    logs.logger.info("Serving WSGI app %s with %d threads", _describe(config.app), config.threads)

    def stop(signum: int, _frame: object) -> None:
        logs.logger.info("Received %s, shutting down gracefully", signal.Signals(signum).name)
        server.stop()

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.serve()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    logs.logger.info("Stopped")


def _describe(app: object) -> str:
    return app if isinstance(app, str) else getattr(app, "__qualname__", repr(app))
