"""``--check-config`` (gunicorn's name): what a start would serve, checked without serving.

The settings are already validated (the same :meth:`Config.validate` a start runs, so a bad
one exits 2 naming it); here the logging configuration is applied and every app imported as a
start does it (:func:`amphicorn.server.load_mount`: an import failure exits 1), and the
result is described, one line per thing, on stdout. Nothing is bound, no worker is started,
no ASGI lifespan runs and no gunicorn hook is called: an app's lifespan startup and the
addresses' availability are left to a real start.
"""

from __future__ import annotations

import os

from amphicorn import __version__
from amphicorn import log as logs
from amphicorn.config import Bind, Config
from amphicorn.server import Mount, load_mount


def report(config: Config) -> str:
    """Imports every app of ``config`` and describes what a start would serve; raises the
    start's own errors (:class:`~amphicorn.errors.AmphicornError`) when it could not."""
    logs.configure(config.log_level, config.log_format, config.log_config)
    mounts = [load_mount(mount, config) for mount in config.all_mounts()]
    tls = config.ssl_certfile is not None
    lines = [
        f"amphicorn {__version__}: the configuration is valid and every app imports",
        f"binds: {_binds(config, tls)}",
        f"tls: {f'on ({config.ssl_certfile}, client certificates {config.ssl_cert_reqs})' if tls else 'off'}",
        f"http: {config.http}; io threads: {config.io_threads}",
        f"workers: {_workers(config)}",
        f"admin: {_admin(config)}",
        f"health path: {config.health_path or 'off'}",
        f"shutdown: delay {config.shutdown_delay:g}s, then a graceful drain of up to {config.graceful_timeout:g}s",
    ]
    lines += [f"mount {mount.point}: {_mount(mount)}" for mount in mounts]
    return "\n".join(lines)


def _binds(config: Config, tls: bool) -> str:
    if os.environ.get("LISTEN_FDS") is not None and os.environ.get("LISTEN_PID") == str(os.getpid()):
        return f"the {os.environ['LISTEN_FDS']} socket(s) of systemd socket activation (LISTEN_FDS)"
    return ", ".join(_address(bind, tls) for bind in config.binds)


def _address(bind: Bind, tls: bool) -> str:
    if bind.path is not None:
        return f"unix:{bind.path}"
    if bind.fd is not None:
        return f"fd://{bind.fd}"
    url = bind.url()
    return url.replace("http://", "https://", 1) if tls else url


def _workers(config: Config) -> str:
    if not config.supervised():
        return "1 (one process, no supervisor)"
    extras = [f"max-requests {config.limit_max_requests}"] if config.limit_max_requests is not None else []
    extras += ["reload"] if config.reload else []
    return ", ".join([f"{config.workers} under a supervisor", *extras])


def _admin(config: Config) -> str:
    address = config.admin_address()
    if address is None:
        return "off"
    return f"{_address(address, tls=False)} (/healthz, /readyz, /metrics)"


def _mount(mount: Mount) -> str:
    limit = "no limit" if mount.limit_concurrency is None else str(mount.limit_concurrency)
    body = "no limit" if mount.max_body_size is None else f"{mount.max_body_size} bytes"
    if mount.interface == "static":
        what = f"{mount.description}, by Rust"
    elif mount.interface == "wsgi":
        what = (
            f"WSGI app {mount.description}, {mount.threads} threads, queue {mount.queue_size} "
            f"(waits up to {mount.queue_timeout:g}s)"
        )
    else:
        what = f"ASGI app {mount.description}, on the event loop"
    parts = [what, f"concurrency {limit}", f"body {body}"]
    if mount.compress:
        parts.append(f"compress {','.join(mount.compress)}")
    parts.append(f"fallback {mount.fallback or 'none'}")
    if mount.canary is not None:
        rollback = (
            "no rollback"
            if mount.canary_max_error_rate is None
            else f"rollback past {mount.canary_max_error_rate:g} 5xx over {mount.canary_window:g}s"
        )
        sticky = f"header {mount.canary_key_header}" if mount.canary_key_header else f"cookie {mount.canary_cookie}"
        parts.append(f"canary {mount.canary} at {mount.canary_weight:g}% (sticky by {sticky}, {rollback})")
    if mount.shadow is not None:
        sampled = f"{mount.shadow_sample:g} of {','.join(mount.shadow_methods)}"
        parts.append(f"shadow {mount.shadow} ({sampled}, at most {mount.shadow_max_concurrency} at once)")
    return "; ".join(parts)
