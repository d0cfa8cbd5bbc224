"""The Python API, :func:`amphicorn.run`: the CLI's settings as keyword arguments.

It builds and validates a :class:`~amphicorn.Config`, then serves it the way the
``amphicorn`` command would: in this process (:func:`amphicorn.server.serve`), or with worker
processes under :class:`amphicorn.supervisor.Supervisor` when the config asks for workers,
``reload`` or ``limit_max_requests``. It lives apart from :mod:`amphicorn.server` because the
workers run ``server.serve`` themselves: the server must not import the supervisor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from amphicorn.config import Bind, Config, MountConfig
from amphicorn.convert import bind_texts
from amphicorn.server import serve


def run(app: str | Callable[..., Any] | None = None, **settings: Any) -> None:
    """Serves ``app`` (a callable or an app spec such as ``"mysite.wsgi:application"``)
    until SIGINT or SIGTERM. Takes the :class:`~amphicorn.Config` fields as keyword
    arguments, checked as the command line's values are (:mod:`amphicorn.settings`); ``bind``
    may be a string or a list of ``HOST:PORT`` strings, and ``mounts`` a mapping of prefix to
    app."""
    binds = settings.pop("bind", None)
    if binds is not None:
        settings["binds"] = [Bind.parse(text, setting="bind") for text in bind_texts(binds, "bind")]
    mounts = settings.pop("mounts", None)
    if isinstance(mounts, dict):
        settings["mounts"] = [MountConfig(point, target) for point, target in mounts.items()]
    elif mounts is not None:
        settings["mounts"] = list(mounts)
    config = Config(app=app, **settings).validate()
    if config.supervised():
        # Imported here: a process that serves alone never needs multiprocessing.
        from amphicorn.supervisor import Supervisor

        code = Supervisor(config).run()
        if code:
            raise SystemExit(code)
    else:
        serve(config)
