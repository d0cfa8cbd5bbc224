"""Per-mount limits: request body size (413, before the app runs when Content-Length says
so, and while streaming otherwise) and concurrency (503 at once, before any Python runs)."""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path

import httpx
import pytest
from support import wait_for_file


def _chunks(total: int, size: int = 16 * 1024):
    sent = 0
    while sent < total:
        step = min(size, total - sent)
        sent += step
        yield b"x" * step


@pytest.mark.parametrize("app", ["apps.mounts:legacy", "asgi:apps.mounts:api"])
def test_body_over_the_limit_is_413(serve, app):
    server = serve(app, "--max-body-size=100000")
    with httpx.Client(base_url=server.url) as client:
        assert client.post("/x", content=b"y" * 100000).json()["body_length"] == 100000
        # Content-Length over the limit: refused before the app runs.
        assert client.post("/x", content=b"y" * 100001).status_code == 413
        # A chunked body that grows past the limit while the app reads it.
        assert client.post("/x", content=_chunks(300000)).status_code == 413
        # Within the limit, chunked works.
        assert client.post("/x", content=_chunks(90000)).json()["body_length"] == 90000


def test_per_mount_body_limit_and_file_keys(serve, tmp_path: Path):
    config = tmp_path / "amphicorn.toml"
    config.write_text(
        "max-body-size = 10\n"
        "[[mount]]\nprefix = '/small'\napp = 'apps.mounts:legacy'\n"
        "[[mount]]\nprefix = '/big'\napp = 'apps.mounts:other_legacy'\nmax-body-size = 1000\n"
    )
    server = serve(f"--config={config}")
    with httpx.Client(base_url=server.url) as client:
        assert client.post("/small/x", content=b"z" * 11).status_code == 413
        assert client.post("/big/x", content=b"z" * 500).status_code == 200
        assert client.post("/big/x", content=b"z" * 1001).status_code == 413


def test_concurrency_limit_answers_503_at_once(serve, tmp_path: Path):
    config = tmp_path / "amphicorn.toml"
    config.write_text(
        "[[mount]]\nprefix = '/slow'\napp = 'apps.mounts:legacy'\nlimit-concurrency = 1\n"
        "[[mount]]\nprefix = '/api'\napp = 'asgi:apps.mounts:api'\n"
    )
    server = serve(f"--config={config}")
    with (
        httpx.Client(base_url=server.url, timeout=30) as client,
        concurrent.futures.ThreadPoolExecutor(2) as pool,
    ):
        marker = tmp_path / "started"
        busy = pool.submit(client.get, f"/slow/slow?record={marker}")
        assert wait_for_file(marker, lambda text: "started" in text), "the first request never reached the app"
        started = time.monotonic()
        refused = client.get("/slow/x")
        elapsed = time.monotonic() - started
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert elapsed < 0.3
        # Other mounts are not limited by it.
        assert client.get("/api/x").status_code == 200
        assert busy.result().status_code == 200
        assert client.get("/slow/x").status_code == 200


def test_bad_limit_values_exit_2(run_cli):
    result = run_cli("apps.mounts:legacy", "--limit-concurrency=0")
    assert result.returncode == 2
    assert "--limit-concurrency '0'" in result.stderr
    result = run_cli("apps.mounts:legacy", "--max-body-size=-5")
    assert result.returncode == 2
    assert "--max-body-size '-5'" in result.stderr
