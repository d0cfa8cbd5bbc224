"""Mounts: WSGI and ASGI apps side by side, routing, per-mount pools, lifespan fan-out,
the migration fallback, and the config file that describes them."""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path

import httpx
import pytest
from support import wait_for_file

LEGACY = "apps.mounts:legacy"
API = "asgi:apps.mounts:api"


def _mount(point: str, app: str) -> str:
    return f"--mount={point}={app}"


def test_wsgi_and_asgi_mounts_get_their_prefixes(serve):
    server = serve(_mount("/legacy", LEGACY), _mount("/api", API))
    with httpx.Client(base_url=server.url) as client:
        legacy = client.get("/legacy/page").json()
        assert legacy == {"app": "legacy", "script_name": "/legacy", "path_info": "/page", "body_length": 0}
        assert client.get("/legacy").json()["path_info"] == ""
        api = client.get("/api/items/3").json()
        assert api["app"] == "api"
        assert api["root_path"] == "/api"
        assert api["path"] == "/api/items/3"


def test_longest_prefix_on_a_segment_boundary_wins_and_unmatched_is_404(serve):
    server = serve(_mount("/", LEGACY), _mount("/api", API), _mount("/api/v2", "asgi:apps.mounts:second_api"))
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/api/v2/x").json()["app"] == "second"
        assert client.get("/api/v20").json()["app"] == "api"
        assert client.get("/apix").json()["app"] == "legacy"
        assert client.get("/").json()["app"] == "legacy"
    only_api = serve(_mount("/api", API))
    with httpx.Client(base_url=only_api.url) as client:
        assert client.get("/other").status_code == 404
        assert client.get("/apix").status_code == 404
        assert client.get("/api").status_code == 200


def test_host_qualified_mounts(serve):
    server = serve(_mount("docs.example.test/", "asgi:apps.mounts:second_api"), _mount("/", LEGACY))
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/x", headers={"Host": "docs.example.test:8000"}).json()["app"] == "second"
        assert client.get("/x", headers={"Host": "www.example.test"}).json()["app"] == "legacy"


def test_a_busy_wsgi_pool_does_not_slow_other_mounts(serve, tmp_path: Path):
    config = tmp_path / "amphicorn.toml"
    config.write_text(
        '[[mount]]\nprefix = "/slow"\napp = "apps.mounts:legacy"\nthreads = 1\n'
        '[[mount]]\nprefix = "/other"\napp = "apps.mounts:other_legacy"\nthreads = 1\n'
        '[[mount]]\nprefix = "/api"\napp = "asgi:apps.mounts:api"\n'
    )
    server = serve(f"--config={config}")
    with (
        httpx.Client(base_url=server.url, timeout=30) as client,
        concurrent.futures.ThreadPoolExecutor(4) as pool,
    ):
        # Three 1-second requests for a 1-thread pool: it stays busy for about 3 s.
        marker = tmp_path / "started"
        slow = [pool.submit(client.get, f"/slow/slow?record={marker}") for _ in range(3)]
        assert wait_for_file(marker, lambda text: "started" in text), "no request reached the slow app"
        timings = {}
        for path in ("/other/x", "/api/x"):
            started = time.monotonic()
            assert client.get(path).status_code == 200
            timings[path] = time.monotonic() - started
        assert all(response.result().status_code == 200 for response in slow)
    assert max(timings.values()) < 0.5, timings


def test_lifespan_fans_out_in_mount_order_and_back(serve, tmp_path: Path):
    record = tmp_path / "record.txt"
    server = serve(
        _mount("/a", API),
        _mount("/b", "asgi:apps.mounts:second_api"),
        env={"MOUNT_TEST_RECORD": str(record)},
    )
    assert record.read_text().splitlines() == ["api:startup", "second:startup"]
    assert server.stop() == 0
    assert record.read_text().splitlines() == ["api:startup", "second:startup", "second:shutdown", "api:shutdown"]


def test_a_failing_mount_startup_stops_the_server_naming_the_mount(run_cli, tmp_path: Path):
    record = tmp_path / "record.txt"
    result = run_cli(
        _mount("/a", API),
        _mount("/b", "asgi:apps.mounts:second_api"),
        "-b",
        "127.0.0.1:0",
        env={"MOUNT_TEST_FAIL": "second", "MOUNT_TEST_RECORD": str(record)},
    )
    assert result.returncode == 3
    assert "mount /b" in result.stderr
    assert "second cannot start" in result.stderr
    assert "Listening on" not in result.stderr
    # The mount that had started is shut down again.
    assert record.read_text().splitlines() == ["api:startup", "second:startup", "api:shutdown"]


FALLBACK_CONFIG = """
[[mount]]
prefix = "/"
app = "apps.mounts:legacy"
name = "legacy"

[[mount]]
prefix = "/api"
app = "asgi:apps.mounts:new_api"
fallback = "legacy"
"""


def test_fallback_replays_404s_to_the_old_app(serve, tmp_path: Path):
    config = tmp_path / "amphicorn.toml"
    config.write_text(FALLBACK_CONFIG)
    server = serve(f"--config={config}")
    with httpx.Client(base_url=server.url) as client:
        new = client.post("/api/new", content=b"x" * 100)
        assert new.json() == {"app": "new", "root_path": "/api", "path": "/api/new", "body_length": 100}
        old = client.post("/api/reports", content=b"y" * 1000)
        assert old.status_code == 200
        assert old.json() == {"app": "legacy", "script_name": "", "path_info": "/api/reports", "body_length": 1000}
        # A body larger than the pre-read limit is not held for a replay: the 404 stands.
        big = client.post("/api/reports", content=b"z" * (256 * 1024))
        assert big.status_code == 404
        assert big.json()["app"] == "new"


LIMITED_FALLBACK_CONFIG = """
[[mount]]
prefix = "/"
app = "apps.mounts:gated_legacy"
name = "legacy"
max-body-size = 10
limit-concurrency = 1

[[mount]]
prefix = "/api"
app = "asgi:apps.mounts:new_api"
fallback = "legacy"
"""


def test_a_replay_is_held_to_the_fallback_mounts_body_limit(serve, tmp_path: Path):
    """The first mount has no body limit; the fallback's 10 bytes apply to the replay."""
    config = tmp_path / "amphicorn.toml"
    config.write_text(LIMITED_FALLBACK_CONFIG)
    server = serve(f"--config={config}")
    with httpx.Client(base_url=server.url) as client:
        assert client.post("/api/new", content=b"x" * 100).json()["app"] == "new"
        assert client.post("/api/reports", content=b"y" * 5).json()["app"] == "legacy"
        assert client.post("/api/reports", content=b"y" * 100).status_code == 413


def test_a_replay_is_held_to_the_fallback_mounts_concurrency_limit(serve, tmp_path: Path):
    """The fallback's one slot is taken by a request in its app: a replay gets 503 at once."""
    config = tmp_path / "amphicorn.toml"
    config.write_text(LIMITED_FALLBACK_CONFIG)
    entered, release = tmp_path / "entered", tmp_path / "release"
    env = {"MOUNT_TEST_ENTERED": str(entered), "MOUNT_TEST_RELEASE": str(release)}
    server = serve(f"--config={config}", env=env)
    with (
        httpx.Client(base_url=server.url, timeout=30) as client,
        concurrent.futures.ThreadPoolExecutor(1) as pool,
    ):
        held = pool.submit(client.get, "/hold")
        try:
            assert wait_for_file(entered, lambda text: text == "entered") == "entered"
            refused = client.get("/api/reports")
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            # The first mount has no limit of its own.
            assert client.get("/api/new").json()["app"] == "new"
        finally:
            release.write_text("go")
        assert held.result().status_code == 200
        assert client.get("/api/reports").json()["app"] == "legacy"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour = 'blue'\n", "unknown key 'colour'"),
        ("threads = 'many'\napp = 'apps.mounts:legacy'\n", "threads 'many'"),
        ("[[mount]]\nprefix = '/x'\napp = 'apps.mounts:legacy'\nsize = 3\n", "unknown key 'size'"),
        (
            "[[mount]]\nprefix = '/x'\napp = 'apps.mounts:legacy'\n"
            "[[mount]]\nprefix = '/x/'\napp = 'apps.mounts:api'\n",
            "/x is already mounted",
        ),
        ("[[mount]]\nprefix = '/x'\napp = 'apps.mounts:legacy'\nfallback = 'nowhere'\n", "fallback 'nowhere'"),
        ("[[mount]]\nprefix = 'x y'\napp = 'apps.mounts:legacy'\n", "mount 'x y'"),
        ("bind = 3\napp = 'apps.mounts:legacy'\n", "bind 3"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_bad_config_files_exit_2_naming_the_key(run_cli, tmp_path: Path, text: str, message: str):
    config = tmp_path / "amphicorn.toml"
    config.write_text(text)
    result = run_cli(f"--config={config}")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Listening on" not in result.stderr


def test_pyproject_section_and_flag_precedence(serve, tmp_path: Path, run_cli):
    # A pyproject.toml is read from its [tool.amphicorn] table...
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("[tool.other]\nthreads = 1\n[tool.amphicorn]\nthreads = 'zero'\napp = 'apps.mounts:legacy'\n")
    result = run_cli(f"--config={pyproject}")
    assert result.returncode == 2
    assert "threads 'zero'" in result.stderr
    # ...and a flag wins over the file, which wins over the environment.
    config = tmp_path / "amphicorn.toml"
    config.write_text("threads = 3\n[[mount]]\nprefix = '/'\napp = 'apps.mounts:legacy'\n")
    server = serve(f"--config={config}", "--threads=2", env={"AMPHICORN_THREADS": "5"})
    assert server.wait_for_stderr("with 2 threads"), server.stderr()
    server = serve(f"--config={config}", env={"AMPHICORN_THREADS": "5"})
    assert server.wait_for_stderr("with 3 threads"), server.stderr()
