"""Every setting of amphicorn, declared once.

A :class:`Setting` says everything the rest of the package needs about one setting: its
long flag (which is also its config-file key), the :class:`~amphicorn.Config` field it fills,
its converter (from :mod:`amphicorn.convert`), its default as text, its help, its group,
its environment variables, its short flag, how argparse reads it, and whether a ``[[mount]]``
table may override it. From :data:`SETTINGS` come the parser and the merging of sources in
:mod:`amphicorn.cli`, the known keys of :mod:`amphicorn.config_file`, the checks of
:meth:`Config.validate` (and so of :func:`amphicorn.run`), and README's flag table
(``scripts/settings_table.py``). This module only declares; it reads no source itself.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any, Literal

from amphicorn import convert, convert_http
from amphicorn._amphicorn import DEFAULT_ACCESS_LOG_FORMAT
from amphicorn.asgi import LIFESPAN_MODES, LOOPS
from amphicorn.interfaces import INTERFACES

ENV_PREFIX = "AMPHICORN_"
WS_MODES = ("auto", "none")
HTTP_VERSIONS = ("auto", "1", "2")
LOG_FORMATS = ("text", "json")
#: ``--ssl-cert-reqs``, in uvicorn's (Python ``ssl``'s CERT_NONE/OPTIONAL/REQUIRED) order.
CERT_REQS = ("none", "optional", "required")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
#: ``--compress-types`` by default: text, JSON, JavaScript, XML, SVG and WebAssembly (already
#: compressed formats like images, fonts in WOFF2, archives and video are left out).
COMPRESS_TYPES = (
    "text/*",
    "application/json",
    "application/*+json",
    "application/javascript",
    "application/xml",
    "application/*+xml",
    "image/svg+xml",
    "application/wasm",
)
#: hyper needs room for at least this much request head.
MIN_HEADER_SIZE = 8192

#: How argparse reads a setting: ``value`` (``--threads 4``), ``switch`` (``--access-log`` and
#: ``--no-access-log``), ``flag`` (``--reload``: present or not), ``repeat`` (``-b A -b B``),
#: ``positional`` (the app).
Style = Literal["value", "switch", "flag", "repeat", "positional"]

#: argparse argument groups, in --help order (None: the parser's own options).
GROUPS = (None, "limits and timeouts", "TLS", "proxies in front", "logging", "processes", "observability")


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting: where it is read from, how it is checked, and how it is documented."""

    #: The long flag without ``--``; also the config-file key (``_`` may stand for ``-`` there).
    flag: str
    #: ``convert(value, source)`` → the typed value; raises ConfigError naming source and value.
    convert: Callable[[object, str], Any]
    #: What it does, for --help and README.
    help: str
    #: The default, as README shows it (backquotes are dropped for --help); "" for none.
    default: str = ""
    group: str | None = None
    #: The :class:`~amphicorn.Config` field; "" means the flag with ``_`` for ``-``, None none.
    field: str | None = ""
    metavar: str | None = None
    short: str | None = None
    style: Style = "value"
    #: Variables read after ``AMPHICORN_<FLAG>``, in order (``FORWARDED_ALLOW_IPS``).
    aliases: tuple[str, ...] = ()
    #: How a list is written in the environment variable (README's note, e.g. "space separated").
    env_note: str = ""
    #: A ``[[mount]]`` table may override it for its app (a MountConfig field of the same name).
    mount: bool = False
    #: None is a valid value of the field (no limit, detected, none).
    optional: bool = False
    #: A config file may set it.
    file: bool = True
    #: Checked as a whole by :meth:`Config.validate` and merged by the CLI itself (app, binds,
    #: mounts): the converter checks one source's text, not the field's typed value.
    composite: bool = False
    #: Why the field has no flag, variable or key (set only from Python); "" for a normal setting.
    internal: str = ""
    #: A few words for README's first column ("WSGI pool size").
    note: str = ""

    def __post_init__(self) -> None:
        if self.field == "":
            object.__setattr__(self, "field", self.flag.replace("-", "_"))

    @property
    def option(self) -> str:
        """The long flag as typed (``--threads``; ``app`` for the positional)."""
        return self.flag if self.style == "positional" else f"--{self.flag}"

    @property
    def dest(self) -> str:
        """The argparse attribute."""
        return self.flag.replace("-", "_")

    @property
    def env(self) -> str:
        """``AMPHICORN_<FLAG>``."""
        return ENV_PREFIX + self.flag.upper().replace("-", "_")

    @property
    def env_names(self) -> tuple[str, ...]:
        """Every variable read, the first that is set winning."""
        return (self.env, *self.aliases)


def declare(
    flag: str, convert_value: Callable[[object, str], Any], help: str, default: str = "", **more: Any
) -> Setting:
    """A :class:`Setting`, with the four things every one has given by position."""
    return Setting(flag, convert_value, help, default, **more)


_PER_CORE = "4 per core, at most 32"
_LIMITS, _TLS, _PROXIES, _LOGGING, _PROCESSES, _OBSERVABILITY = GROUPS[1:]

# fmt: off
SETTINGS: tuple[Setting, ...] = (
    declare("app", convert.text, "the app to serve, as module:attribute (e.g. mysite.wsgi:application)",
            style="positional", metavar="APP", composite=True, note="positional: the app at `/`"),
    declare("mount", convert.mount_texts, "serve APP at PREFIX: /legacy=wsgi:mysite.wsgi:application, "
            "api.example.com/v2=api:app, /static=static:DIR ([[mount]] tables in a file)", field="mounts",
            style="repeat", metavar="PREFIX=APP", env_note="space separated", composite=True),
    declare("config", convert.text, "TOML settings file (keys are the long flag names; [[mount]] tables for apps)",
            "`[tool.amphicorn]` of `./pyproject.toml`, if any", short="c", metavar="FILE", field="config_file",
            file=False, optional=True),
    declare("gunicorn-config", convert.existing_file,
            "read a gunicorn.conf.py as gunicorn does (and GUNICORN_CMD_ARGS); flags and --config win over it",
            metavar="FILE", file=False, optional=True),
    declare("check-config", convert.boolean, "check the settings, import every app and print what would be served, "
            "then exit (0, or the status a start would exit with), binding nothing and running no lifespan", "off",
            field=None, style="flag", file=False),
    declare("migration-report", convert_http.http_url, "print the paths each mount's fallback still answers, read from "
            "the /status of a running server's admin listener at URL, then exit", metavar="URL", field=None,
            file=False, optional=True),
    declare("bind", convert.bind_texts, "address to listen on (IPv6 as [::1]:8000; unix:PATH for a Unix socket; "
            "fd://N for an inherited listening socket)", "`127.0.0.1:8000`", field="binds", short="b",
            style="repeat", metavar="HOST:PORT|unix:PATH|fd://N", env_note="space or comma separated", composite=True),
    declare("host", convert.text, "shorthand for --bind HOST:PORT, with --port", "`127.0.0.1`", field=None,
            metavar="HOST"),
    declare("port", convert.port, "shorthand for --bind HOST:PORT, with --host", "`8000`", field=None, metavar="PORT"),
    declare("threads", convert.positive_int, "WSGI thread pool size", _PER_CORE, mount=True, metavar="N",
            note="WSGI pool size"),
    declare("io-threads", convert.positive_int, "tokio threads for sockets and HTTP (granian's --runtime-threads)",
            "one per core", metavar="N", note="tokio threads for sockets and HTTP"),
    declare("interface", convert.choice(INTERFACES), "the app's interface (an asgi:/wsgi: prefix on APP also sets it)",
            "detected", metavar="|".join(INTERFACES), mount=True, optional=True),
    declare("factory", convert.boolean, "APP names a factory: call it to get the app", "off", style="flag"),
    declare("app-dir", convert.directory, "directory put first on sys.path before the app is imported", "`.`",
            metavar="DIR"),
    declare("loop", convert.installed(convert.choice(LOOPS), {"uvloop": "pip install uvloop"}), "ASGI event loop",
            "`auto` (uvloop if installed)", metavar="|".join(LOOPS)),
    declare("lifespan", convert.choice(LIFESPAN_MODES), "ASGI lifespan", "`auto`", metavar="|".join(LIFESPAN_MODES)),
    declare("ws", convert.choice(WS_MODES), "ASGI WebSockets", "`auto`", metavar="|".join(WS_MODES)),
    declare("ws-max-size", convert.positive_int, "largest WebSocket message accepted, in bytes", "16 MiB",
            metavar="BYTES"),
    declare("max-body-size", convert.non_negative_int, "largest request body in bytes; larger ones get 413",
            "no limit", metavar="BYTES", mount=True, optional=True),
    declare("limit-concurrency", convert.positive_int, "most requests in one mount's app at once; more get 503 at once",
            "no limit", metavar="N", mount=True, optional=True),
    declare("static-cache-control", convert_http.header_value, "Cache-Control of files from static: mounts "
            "(names with a content hash always get a year, immutable)", "none", metavar="VALUE", mount=True,
            optional=True),
    declare("static-index", convert.file_name, "file that static: mounts serve for a directory (never a listing)",
            "none (404)", metavar="NAME", mount=True, optional=True),
    declare("compress", convert_http.codings, "compress responses with these codings, in order of preference "
            "(br, gzip, zstd), as the client's Accept-Encoding allows", "none (off)", metavar="CODINGS", mount=True,
            env_note="comma separated"),
    declare("compress-min-size", convert.non_negative_int, "responses known to be shorter are not compressed",
            "1024", metavar="BYTES", mount=True),
    declare("compress-types", convert_http.media_types, "the Content-Types compressed (type/subtype, type/* or "
            "type/*+suffix)", ", ".join(f"`{kind}`" for kind in COMPRESS_TYPES), metavar="TYPES", mount=True,
            env_note="comma separated"),
    # Limits and timeouts.
    declare("timeout-keep-alive", convert.positive_seconds, "seconds an idle keep-alive connection stays open", "5",
            group=_LIMITS, metavar="SECONDS"),
    declare("timeout-request-headers", convert.positive_seconds,
            "seconds a client has to send a request's line and headers; slower ones get 408", "10", group=_LIMITS,
            metavar="SECONDS"),
    declare("timeout-request-body", convert.positive_seconds,
            "seconds a client may pause while sending a request body; longer gets 408", "60", group=_LIMITS,
            metavar="SECONDS", mount=True),
    declare("max-header-size", convert.bytes_at_least(MIN_HEADER_SIZE),
            "bytes a request line and headers (or an HTTP/2 header list) may take; more gets 431",
            f"64 KiB (at least {MIN_HEADER_SIZE})",
            group=_LIMITS, metavar="BYTES"),
    declare("http", convert.choice(HTTP_VERSIONS), "HTTP versions served: auto (HTTP/1.1 and HTTP/2: ALPN on TLS, "
            "prior knowledge in cleartext), 1 or 2 only", "`auto`", group=_LIMITS, metavar="|".join(HTTP_VERSIONS)),
    declare("http2-max-concurrent-streams", convert.positive_int31,
            "HTTP/2 streams a client may open at once on one connection", "100", group=_LIMITS, metavar="N"),
    declare("backlog", convert.positive_int31, "connections the kernel queues before they are accepted", "2048",
            group=_LIMITS, metavar="N"),
    declare("queue-size", convert.positive_int, "requests that may wait for a free WSGI thread; more get 503", "1024",
            group=_LIMITS, metavar="N", mount=True),
    declare("queue-timeout", convert.seconds, "seconds a request waits for room in a full queue, then 503", "30",
            group=_LIMITS, metavar="SECONDS", mount=True),
    declare("preread-limit", convert.non_negative_int,
            "request bodies up to this many bytes are read before a WSGI thread is taken (and can be replayed to a "
            "fallback)", "64 KiB", group=_LIMITS, metavar="BYTES"),
    # TLS (src/server/tls.rs).
    declare("ssl-certfile", convert.existing_file, "serve HTTPS with this PEM certificate chain (needs --ssl-keyfile)",
            "no TLS", group=_TLS, metavar="FILE", optional=True),
    declare("ssl-keyfile", convert.existing_file, "the PEM private key of --ssl-certfile (RSA or ECDSA; encrypted "
            "PKCS#8 with --ssl-keyfile-password)", group=_TLS, metavar="FILE", optional=True),
    declare("ssl-keyfile-password", convert.secret, "the password of an encrypted --ssl-keyfile", "none", group=_TLS,
            metavar="PASSWORD", optional=True),
    declare("ssl-ca-certs", convert.existing_file, "PEM CA certificates that client certificates are verified against "
            "(with --ssl-cert-reqs)", "none", group=_TLS, metavar="FILE", optional=True),
    declare("ssl-cert-reqs", convert.aliased(CERT_REQS, {"0": "none", "1": "optional", "2": "required"}),
            "ask clients for a certificate from --ssl-ca-certs: not (none, 0), accepting none (optional, 1) or "
            "refusing those without (required, 2)", "`none`", group=_TLS, metavar="|".join(CERT_REQS)),
    # Proxies in front.
    declare("proxy-headers", convert.boolean, "take the client address, scheme and host from Forwarded/X-Forwarded-* "
            "headers of trusted peers", "on", group=_PROXIES, style="switch"),
    declare("forwarded-allow-ips", convert.address_list, "comma-separated trusted proxy addresses or networks, or *",
            "`127.0.0.1,::1`", group=_PROXIES, metavar="IPS", aliases=("FORWARDED_ALLOW_IPS",)),
    declare("proxy-protocol", convert.boolean, "trusted peers start each connection with a PROXY protocol v1/v2 header",
            "off", group=_PROXIES, style="flag"),
    # Logging.
    declare("log-level", convert.choice(LOG_LEVELS), f"one of {', '.join(LOG_LEVELS)}", "`info`", group=_LOGGING,
            metavar="LEVEL"),
    declare("access-log", convert.boolean, "write one line per request to stdout, from Rust", "off", group=_LOGGING,
            style="switch"),
    declare("access-log-format", convert_http.access_log_format,
            "gunicorn-style atoms: h t r m U q H s B b f a T M D L p mount variant {header}i",
            f"`{DEFAULT_ACCESS_LOG_FORMAT}`", group=_LOGGING, metavar="FORMAT"),
    declare("log-format", convert.choice(LOG_FORMATS), "error and access log lines as text or JSON", "`text`",
            group=_LOGGING, metavar="|".join(LOG_FORMATS)),
    declare("log-config", convert.existing_file, "logging configuration: dictConfig .json/.yaml, or fileConfig .ini",
            group=_LOGGING, metavar="FILE", optional=True),
    # Processes (amphicorn.supervisor).
    declare("workers", convert.positive_int, "worker processes, under a supervisor", "1 (no supervisor)",
            group=_PROCESSES, short="w", metavar="N"),
    declare("limit-max-requests", convert.positive_int, "a worker serves N requests, then is replaced", "no limit",
            group=_PROCESSES, metavar="N", optional=True, note="per worker"),
    declare("limit-max-requests-jitter", convert.non_negative_int,
            "add a random 0..J to each worker's --limit-max-requests, so they do not restart together", "0",
            group=_PROCESSES, metavar="J"),
    declare("timeout-graceful-shutdown", convert.seconds,
            "on SIGTERM/SIGINT (or a restart), how long in-flight requests get to finish", "30", group=_PROCESSES,
            field="graceful_timeout", metavar="SECONDS"),
    declare("shutdown-delay", convert.seconds,
            "on SIGTERM/SIGINT, /readyz turns 503 at once but requests are served as usual for this long before "
            "the drain starts (a second signal cuts it short)", "0", group=_PROCESSES, metavar="SECONDS",
            note="for Kubernetes and balancers"),
    declare("reload", convert.boolean, "restart the workers when a .py file changes (development)", "off",
            group=_PROCESSES, style="flag", note="needs `amphicorn[reload]`"),
    declare("reload-dir", convert.directories, "directory --reload watches", "the working directory",
            group=_PROCESSES, field="reload_dirs", style="repeat", metavar="DIR", env_note=f"`{os.pathsep}` separated"),
    declare("gc-freeze", convert.boolean, "before serving, set what the apps made at import and startup aside from "
            "the garbage collector (gc.freeze): its full collections, which requests in flight trigger, stop walking "
            "it", "on", group=_PROCESSES, style="switch"),
    declare("pid", convert.new_file, "write the server's process id to FILE (removed on exit)", group=_PROCESSES,
            field="pid_file", metavar="FILE", optional=True),
    # Observability (src/server/admin.rs, src/metrics/).
    declare("admin-bind", convert.text, "serve /healthz, /readyz, /metrics (Prometheus) and /status (JSON) on this "
            "address, apart from the apps (with workers: the supervisor, for all of them)", "off",
            group=_OBSERVABILITY, metavar="HOST:PORT|unix:PATH", optional=True,
            note="health, readiness, metrics, status"),
    declare("health-path", convert_http.url_path, "answer GET PATH on the apps' listeners with 200 ok (the admin "
            "listener's /healthz), before any mount: for balancers that probe the traffic port", "off",
            group=_OBSERVABILITY, metavar="PATH", optional=True),
)
# fmt: on

BY_FLAG: dict[str, Setting] = {setting.flag: setting for setting in SETTINGS}
#: Top-level keys a config file may hold.
FILE_KEYS = frozenset(setting.flag for setting in SETTINGS if setting.file and not setting.internal)
#: The weighted canary's ``[[mount]]`` keys (only there: no flag, variable or top-level key),
#: each with its MountConfig field and converter; amphicorn/canary.py checks and uses them.
CANARY_KEYS: dict[str, tuple[str, Callable[[object, str], Any]]] = {
    "canary": ("canary", convert.text),
    "canary-weight": ("canary_weight", convert.percent),
    "canary-cookie": ("canary_cookie", convert_http.token),
    "canary-key-header": ("canary_key_header", convert_http.token),
    "canary-max-error-rate": ("canary_max_error_rate", convert.fraction),
    "canary-window": ("canary_window", convert.positive_seconds),
}
#: Shadow traffic's ``[[mount]]`` keys (only there, as the canary's), each with its MountConfig
#: field and converter; amphicorn/shadow.py checks and uses them.
SHADOW_KEYS: dict[str, tuple[str, Callable[[object, str], Any]]] = {
    "shadow": ("shadow", convert.text),
    "shadow-sample": ("shadow_sample", convert.fraction),
    "shadow-methods": ("shadow_methods", convert_http.methods),
    "shadow-ignore-headers": ("shadow_ignore_headers", convert_http.header_names),
    "shadow-max-concurrency": ("shadow_max_concurrency", convert.positive_int),
}
#: Settings a ``[[mount]]`` table may override.
MOUNT_SETTINGS: tuple[Setting, ...] = tuple(setting for setting in SETTINGS if setting.mount)
#: Keys of a ``[[mount]]`` table: its own, then the settings it may override.
MOUNT_KEYS = frozenset(
    {"prefix", "app", "name", "fallback", *CANARY_KEYS, *SHADOW_KEYS, *(setting.flag for setting in MOUNT_SETTINGS)}
)
