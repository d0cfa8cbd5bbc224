"""``python -m pyo3_async_runtimes_server MODULE:APP [--host H] [--port P] [--io-threads N]``.

The asyncio loop (uvloop when installed, as amphicorn's ``--loop auto``) runs forever in a
thread of its own; the main thread runs the Rust server, with the GIL released, until the
process is killed. No lifespan: the benchmark apps need none.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import threading

from pyo3_async_runtimes_server._server import serve


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="pyo3_async_runtimes_server")
    parser.add_argument("app", help="MODULE:ATTRIBUTE of an ASGI 3 app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--io-threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--call-in",
        choices=("worker", "blocking"),
        default="worker",
        help="where the app is called: on the tokio worker (as the library's examples do) or on spawn_blocking",
    )
    # pyo3-async-runtimes resolves every asyncio future from tokio's blocking pool
    # (spawn_blocking + Python::attach). With tokio's default of 512 threads, each future in
    # flight gets a thread that queues on the GIL: 80-190 threads under 64 connections, and
    # 25-40% fewer req/s in asgi-hello than with a pool of 1 to 16 (all alike). One per core.
    parser.add_argument(
        "--max-blocking-threads",
        type=int,
        default=os.cpu_count() or 1,
        help="tokio's blocking pool, where pyo3-async-runtimes resolves asyncio futures (default: one per core)",
    )
    args = parser.parse_args()
    module, _, attribute = args.app.partition(":")
    app = getattr(importlib.import_module(module), attribute or "app")

    loop = new_event_loop()

    def run_loop() -> None:
        asyncio.set_event_loop(loop)
        loop.run_forever()

    threading.Thread(target=run_loop, name="asgi-loop", daemon=True).start()
    print(f"pyo3-async-runtimes server: {args.app} on http://{args.host}:{args.port} ({type(loop).__module__})")
    serve(app, loop, f"{args.host}:{args.port}", args.io_threads, args.call_in == "blocking", args.max_blocking_threads)


if __name__ == "__main__":
    main()
