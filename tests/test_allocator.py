"""glibc's malloc arenas (``server/allocator.rs``): the server keeps one for all its threads,
so the memory the WSGI threads' ``bytes`` freed is kept once, not once per thread (the WSGI
echo at 256 connections peaked at 136-141 MiB with glibc's default of 8 arenas per core,
101-103 with one); a ``MALLOC_ARENA_MAX`` of the user's own wins."""

from __future__ import annotations

import platform
import re

import httpx
import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc arenas")

ARENA_RE = re.compile(r"^Arena (\d+):$", re.MULTILINE)


def _arenas(server) -> set[int]:
    """The arenas glibc reports after the app's threads have each allocated."""
    assert httpx.get(f"{server.url}/", timeout=10).text == "reported"
    assert server.wait_for_stderr("Total (incl. mmap):"), server.stderr()
    return {int(number) for number in ARENA_RE.findall(server.stderr())}


def test_every_thread_shares_one_arena(serve):
    server = serve("apps.arenas:app", "--threads", "4")
    assert _arenas(server) == {0}


def test_the_user_s_malloc_arena_max_wins(serve):
    server = serve("apps.arenas:app", "--threads", "4", env={"MALLOC_ARENA_MAX": "4"})
    assert len(_arenas(server)) > 1
