"""An app that shows glibc's malloc arenas: threads that allocate at the same time, then
glibc's own report (``malloc_stats``, one ``Arena N:`` block per arena, on the server's
stderr)."""

from __future__ import annotations

import ctypes
import threading

from apps._util import text_response

THREADS = 6


def _allocate(barrier: threading.Barrier, kept: list[bytearray]) -> None:
    # A thread's first allocation picks its arena; all stay alive until every one has one,
    # so none takes over an arena a finished thread left behind.
    kept.append(bytearray(200_000))
    barrier.wait(timeout=10)


def app(environ, start_response):
    barrier = threading.Barrier(THREADS + 1)
    kept: list[bytearray] = []
    threads = [threading.Thread(target=_allocate, args=(barrier, kept)) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=10)
    for thread in threads:
        thread.join()
    ctypes.CDLL(None).malloc_stats()
    return text_response(start_response, b"reported")
