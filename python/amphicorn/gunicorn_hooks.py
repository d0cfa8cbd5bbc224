"""The hooks of a ``--gunicorn-config`` file, called at the equivalent moments, with objects
that have what gunicorn's have (``gunicorn_config.py`` reads the settings).

- Server hooks, in the main process (the supervisor, or the single process):
  ``on_starting(server)`` before binding, ``when_ready(server)`` once listening,
  ``on_reload(server)`` when a SIGHUP or ``--reload`` restarts the workers (a SIGHUP in a
  single process, which re-reads certificates and canary weights), ``child_exit(server,
  worker)`` when a worker process has exited, and ``on_exit(server)`` after the last one.
  ``server`` has gunicorn's ``log``, ``cfg``, ``pid`` and ``app_uri``.
- Worker hooks, in each serving process (every worker, or the single process), which reads
  the file again for them (:func:`worker_hooks`): ``post_worker_init(worker)`` once its apps
  are loaded and it serves, ``worker_int(worker)`` when it gets SIGINT, ``worker_exit(server,
  worker)`` when it stops, and around each request to a WSGI mount ``pre_request(worker,
  req)`` before the app and ``post_request(worker, req, environ, resp)`` once its response is
  complete (ASGI apps are not wrapped, as under uvicorn's gunicorn worker).

A hook that raises is logged with its traceback and the server goes on, as gunicorn does.
"""

from __future__ import annotations

import logging
import os
import types
from collections.abc import Callable
from typing import Any

from amphicorn.gunicorn_config import WORKER_HOOKS, GunicornSettings, execute


class ServerView:
    """What gunicorn's hooks get as ``server`` (its Arbiter): ``log``, ``cfg``, ``pid``,
    ``app_uri``."""

    def __init__(self, values: dict[str, Any], app_uri: str | None, pid: int | None = None) -> None:
        self.log = logging.getLogger("amphicorn")
        self.cfg = types.SimpleNamespace(**values)
        self.pid = os.getpid() if pid is None else pid
        self.app_uri = app_uri

    @classmethod
    def of_worker(cls, hooks: WorkerHooks) -> ServerView:
        """The supervisor as a worker sees it (``worker_exit``'s ``server``): its pid is the
        worker's parent."""
        return cls(vars(hooks.worker.cfg), getattr(hooks.worker.cfg, "wsgi_app", None), hooks.worker.ppid)


def call_hook(settings: GunicornSettings | None, name: str, app_uri: str | None, *args: Any) -> None:
    """Calls the file's ``name`` hook, if it has one, with a ``ServerView`` (and ``args``:
    ``child_exit``'s worker)."""
    if settings is None or name not in settings.hooks:
        return
    try:
        settings.hooks[name](ServerView(settings.gunicorn, app_uri), *args)
    except Exception:  # the user's hook: log it and go on, as gunicorn does
        logging.getLogger("amphicorn").exception("The gunicorn hook %s of %s failed", name, settings.origin)


class ExitedWorker:
    """``child_exit``'s ``worker``: the process that exited (``pid``) and its ``exitcode``."""

    def __init__(self, pid: int, exitcode: int) -> None:
        self.pid = pid
        self.exitcode = exitcode


class WorkerView:
    """What gunicorn's worker hooks get as ``worker``: ``log``, ``cfg``, ``pid``, ``ppid``."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.log = logging.getLogger("amphicorn")
        self.cfg = types.SimpleNamespace(**values)
        self.pid = os.getpid()
        self.ppid = os.getppid()


class RequestView:
    """gunicorn's ``req`` for ``pre_request``/``post_request``, read from the WSGI environ:
    ``method``, ``uri``, ``path``, ``query``, ``version``, ``scheme``, ``headers`` (upper-case
    names, as gunicorn gives them)."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.method = environ["REQUEST_METHOD"]
        self.path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        self.query = environ.get("QUERY_STRING", "")
        self.uri = environ.get("RAW_URI") or (self.path + (f"?{self.query}" if self.query else ""))
        protocol = environ.get("SERVER_PROTOCOL", "HTTP/1.1").partition("/")[2]
        major, _, minor = protocol.partition(".")
        self.version = (int(major or 1), int(minor or 0))
        self.scheme = environ.get("wsgi.url_scheme", "http")
        self.headers = [
            (key[5:].replace("_", "-"), value) for key, value in environ.items() if key.startswith("HTTP_")
        ] + [(key.replace("_", "-"), environ[key]) for key in ("CONTENT_TYPE", "CONTENT_LENGTH") if key in environ]


class ResponseView:
    """gunicorn's ``resp`` for ``post_request``: ``status``, ``status_code``, ``headers``,
    ``sent`` (body bytes)."""

    def __init__(self) -> None:
        self.status = ""
        self.status_code = 0
        self.headers: list[tuple[str, str]] = []
        self.sent = 0


class WorkerHooks:
    """The worker hooks of a gunicorn file, for one serving process."""

    def __init__(self, path: str) -> None:
        values = execute(path)
        self.origin = path
        self.worker = WorkerView(values)
        self.hooks = {name: values[name] for name in WORKER_HOOKS if callable(values.get(name))}

    def call(self, name: str, *args: Any) -> None:
        """``post_worker_init``, ``worker_int`` or ``worker_exit`` (``args``: its server); a
        failing hook is logged."""
        hook = self.hooks.get(name)
        if hook is None:
            return
        try:
            hook(*args, self.worker) if name == "worker_exit" else hook(self.worker)
        except Exception:  # the user's hook: log it and go on, as gunicorn does
            logging.getLogger("amphicorn").exception("The gunicorn hook %s of %s failed", name, self.origin)

    def wrap_wsgi(self, app: Callable[..., Any]) -> Callable[..., Any]:
        """``app`` with ``pre_request`` before it and ``post_request`` once its response is
        complete; ``app`` itself when the file has neither."""
        pre, post = self.hooks.get("pre_request"), self.hooks.get("post_request")
        if pre is None and post is None:
            return app
        worker, origin = self.worker, self.origin

        def with_hooks(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            request = RequestView(environ)
            if pre is not None:
                pre(worker, request)  # an error here is the app's: 500 and a logged traceback
            response = ResponseView()

            def recording(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                response.status, response.status_code, response.headers = status, int(status[:3]), list(headers)
                return start_response(status, headers, exc_info)

            body = app(environ, recording)

            def finished() -> None:
                if post is None:
                    return
                try:
                    post(worker, request, environ, response)
                except Exception:  # the user's hook: log it and go on, as gunicorn does
                    logging.getLogger("amphicorn").exception("The gunicorn hook post_request of %s failed", origin)

            return _Counted(body, response, finished)

        return with_hooks


class _Counted:
    """A WSGI response iterable that counts what it yields and calls ``finished`` on close."""

    def __init__(self, body: Any, response: ResponseView, finished: Callable[[], None]) -> None:
        self._body = body
        self._response = response
        self._finished = finished

    def __iter__(self) -> Any:
        for chunk in self._body:
            self._response.sent += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._finished()


def worker_hooks(path: str | None) -> WorkerHooks | None:
    """The worker hooks of the gunicorn file at ``path``, or None without one."""
    return WorkerHooks(path) if path else None
