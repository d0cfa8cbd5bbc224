"""1 GiB up and 1 GiB down, through a WSGI and an ASGI mount of one process, all four at once
(the downloads' clients stall for 1.5 s first): every byte arrives (CRC-32 both ways) and
the server's RSS grows by less than 64 MiB (``support.RSS_LIMIT_MIB``) over the whole, not
just per transfer. ``tests/test_*_streaming.py`` check each transfer alone; here they share
one process's allocator, threads and event loop, as they do in production. A buffer that
grows with a slow reader or a fast writer, on either side of either bridge, fails it."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from chaos_support import report
from support import GIB, RSS_LIMIT_MIB, RssSampler, Transfer, check_bounded_download, check_bounded_upload

#: Each transfer's mount point and app (the streaming tests' apps).
MOUNTS = {
    "wsgi-up": ("/wsgi/up", "apps.input:checksum"),
    "wsgi-down": ("/wsgi/down", "apps.streaming:download"),
    "asgi-up": ("/asgi/up", "asgi_apps.raw:checksum"),
    "asgi-down": ("/asgi/down", "asgi_apps.raw:download"),
}


def _transfer(server, name: str) -> Transfer:
    path = MOUNTS[name][0] + "/"
    if name.endswith("-up"):
        transfer, _ = check_bounded_upload(server, path)
        return transfer
    return check_bounded_download(server, path)


def test_1gib_up_and_down_through_wsgi_and_asgi_at_once_in_bounded_memory(serve):
    server = serve(None, *(arg for path, app in MOUNTS.values() for arg in ("--mount", f"{path}={app}")))
    # One small request to each first, so the pools' threads and the imports are not growth.
    with httpx.Client(timeout=10) as client:
        for name, (path, _) in MOUNTS.items():
            if name.endswith("-up"):
                response = client.post(f"{server.url}{path}/", content=b"x" * 200_000)
            else:
                response = client.get(f"{server.url}{path}/?chunks=4")
            assert response.status_code == 200, (name, response.text)
    started = time.monotonic()
    with RssSampler(server.pid) as rss, ThreadPoolExecutor(len(MOUNTS)) as pool:
        futures = {name: pool.submit(_transfer, server, name) for name in MOUNTS}
        transfers = {name: future.result() for name, future in futures.items()}
    elapsed = time.monotonic() - started
    for name, transfer in transfers.items():
        report(
            f"1gib-{name}",
            seconds=round(transfer.seconds, 2),
            mib_per_s=round(transfer.mib_per_s),
            rss_growth_mib_during=round(transfer.growth_mib, 1),
        )
    report(
        "1gib-all-four-at-once",
        rss_start_mib=rss.start // 1024,
        rss_growth_mib=round(rss.growth_mib, 1),
        seconds=round(elapsed, 2),
        mib_per_s=round(len(MOUNTS) * GIB / (1 << 20) / elapsed),
    )
    assert rss.growth_mib < RSS_LIMIT_MIB, f"RSS grew by {rss.growth_mib:.1f} MiB while 4 GiB went through"
