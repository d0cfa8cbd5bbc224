"""Shadow traffic (``shadow = "next"`` on a mount), on real processes: the old site is the
Django project of tests/django_project (its ``compare/<case>/`` views), the new service a
FastAPI app (tests/asgi_apps/shadow_api.py) that answers the same URLs, alike or not, mounted
apart at ``/_next``. Results are read where an operator reads them: the metrics (parsed with
prometheus_client), ``GET /status`` and the error log.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client import parser
from support import wait_until

ADMIN_RE = re.compile(r"Admin listener \(.*?\) on (http://\S+)")
#: Headers Django's middleware sets and FastAPI does not: a team would ignore them too.
DJANGO_ONLY = ["X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy", "Cross-Origin-Opener-Policy", "Vary"]
RESULTS = ("match", "differ", "shadow_error", "skipped")


def config_text(*shadow_keys: str, ignore: tuple[str, ...] = ("X-Request-Id",)) -> str:
    """Django at /shop with the FastAPI shadow ``next`` at /_next; ``shadow_keys`` are more
    lines of the /shop table."""
    keys = "\n".join(shadow_keys)
    ignored = ", ".join(f'"{name}"' for name in (*DJANGO_ONLY, *ignore))
    return f"""admin-bind = "127.0.0.1:0"

[[mount]]
prefix = "/shop"
name = "shop"
app = "django_project.wsgi:application"
shadow = "next"
shadow-ignore-headers = [{ignored}]
{keys}

[[mount]]
prefix = "/_next"
name = "next"
app = "asgi:asgi_apps.shadow_api:app"
"""


@pytest.fixture
def shadow_server(serve, tmp_path: Path):
    """``shadow_server(*keys, ignore=..., args=(), capture_stdout=False) -> (server, admin URL)``."""

    def start(*keys: str, args: tuple[str, ...] = (), capture_stdout: bool = False, **options):
        config = tmp_path / "amphicorn.toml"
        config.write_text(config_text(*keys, **options))
        server = serve(f"--config={config}", *args, capture_stdout=capture_stdout)
        match = ADMIN_RE.search(server.stderr())
        assert match, server.stderr()
        return server, match.group(1)

    return start


def comparisons(admin: str) -> dict[str, float]:
    """``amphicorn_shadow_comparisons_total`` of /shop → /_next, by result."""
    text = httpx.get(f"{admin}/metrics").text
    found = {
        sample.labels["result"]: sample.value
        for family in parser.text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "amphicorn_shadow_comparisons_total"
        and (sample.labels["mount"], sample.labels["shadow"]) == ("/shop", "/_next")
    }
    assert set(found) == set(RESULTS), text
    return found


def shadow_status(admin: str) -> dict:
    return httpx.get(f"{admin}/status").json()["mounts"]["/shop"]["shadow"]


def wait_for_results(admin: str, **expected: int) -> dict[str, float]:
    """Waits until the counts of ``expected`` results are reached (the others stay 0)."""
    wanted = {result: expected.get(result, 0) for result in RESULTS}
    wait_until(lambda: comparisons(admin) == wanted, message=f"{wanted} != {comparisons(admin)}")
    return comparisons(admin)


def shadow_log(client: httpx.Client) -> list[dict]:
    return client.get("/_next/_log").json()


def test_differences_in_status_header_json_and_body_are_reported(shadow_server):
    server, admin = shadow_server()
    with httpx.Client(base_url=server.url) as client:
        for done, case in enumerate(("status", "header", "json", "text"), start=1):
            response = client.get(f"/shop/compare/{case}/")
            # The client gets Django's answer, untouched.
            assert response.status_code == 200, response.text
            # Compared after the answer, in the background: one at a time keeps their order.
            wait_for_results(admin, differ=done)
        assert client.get("/shop/compare/json/").json()["total"] == 22
    wait_for_results(admin, differ=5)
    recent = shadow_status(admin)["recent_differences"]
    assert [entry["path"] for entry in recent] == [
        f"/shop/compare/{case}/" for case in ("status", "header", "json", "text", "json")
    ]
    by_path = {entry["path"]: entry for entry in recent}
    status = by_path["/shop/compare/status/"]
    assert (status["method"], status["status"], status["shadow_status"]) == ("GET", 200, 404)
    assert "status 200 vs 404" in status["differences"]
    assert by_path["/shop/compare/header/"]["differences"] == ['header x-version: ["1"] vs ["2"]']
    assert by_path["/shop/compare/json/"]["differences"] == ["body at $.items[1].price: 12 vs 13"]
    assert by_path["/shop/compare/text/"]["differences"] == ["body at byte 7 (lengths 11 vs 11)"]
    # One WARNING line per difference on the error log, with both statuses.
    assert server.wait_for_stderr("compare/text/")
    lines = [line for line in server.stderr().splitlines() if "Shadow difference" in line]
    assert len(lines) == 5, lines
    assert any(
        re.search(
            r"WARNING.*mount=/shop shadow=/_next method=GET path=\"/shop/compare/json/\" status=200 "
            r"shadow_status=200 differences=\"body at \$\.items\[1\]\.price: 12 vs 13\"",
            line,
        )
        for line in lines
    ), lines


def test_key_order_whitespace_and_ignored_headers_match(shadow_server):
    server, admin = shadow_server()
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/shop/compare/reordered/").json()["total"] == 22
        # A random X-Request-Id on both sides, ignored by shadow-ignore-headers.
        assert client.get("/shop/compare/same/").text == "same answer"
        assert client.head("/shop/compare/same/").status_code == 200
    wait_for_results(admin, match=3)
    assert shadow_status(admin)["recent_differences"] == []


def test_a_header_not_ignored_differs(shadow_server):
    server, admin = shadow_server(ignore=())
    with httpx.Client(base_url=server.url) as client:
        client.get("/shop/compare/same/")
    wait_for_results(admin, differ=1)
    (entry,) = shadow_status(admin)["recent_differences"]
    assert [difference.split(":")[0] for difference in entry["differences"]] == ["header x-request-id"]


def test_the_shadow_sees_the_marker_and_only_safe_methods_unless_listed(shadow_server):
    server, admin = shadow_server()
    with httpx.Client(base_url=server.url) as client:
        client.delete("/_next/_log")
        assert client.post("/shop/compare/same/", content=b"x=1").status_code == 200
        assert client.put("/shop/compare/same/").status_code == 200
        assert client.get("/shop/compare/same/").status_code == 200
        wait_for_results(admin, match=1)
        # Only the GET reached the shadow, marked, at the primary's path.
        assert shadow_log(client) == [{"method": "GET", "path": "/shop/compare/same/", "shadow": "1"}]
        # A request to the new app's own mount is not marked.
        client.get("/_next/compare/same/")
        assert shadow_log(client)[-1] == {"method": "GET", "path": "/_next/compare/same/", "shadow": None}


def test_unsafe_methods_listed_are_shadowed_with_their_body(shadow_server):
    server, admin = shadow_server('shadow-methods = ["POST"]')
    with httpx.Client(base_url=server.url) as client:
        client.delete("/_next/_log")
        assert client.post("/shop/compare/same/", content=b"x=1").status_code == 200
        assert client.get("/shop/compare/same/").status_code == 200
        wait_for_results(admin, match=1)
        assert shadow_log(client) == [{"method": "POST", "path": "/shop/compare/same/", "shadow": "1"}]


def test_sample_zero_compares_nothing(shadow_server):
    server, admin = shadow_server("shadow-sample = 0.0")
    with httpx.Client(base_url=server.url) as client:
        client.delete("/_next/_log")
        for _ in range(50):
            assert client.get("/shop/compare/text/").status_code == 200
        assert shadow_log(client) == []
    assert comparisons(admin) == dict.fromkeys(RESULTS, 0)


def test_half_the_requests_are_compared_within_bounds(shadow_server):
    total = 400
    server, admin = shadow_server("shadow-sample = 0.5")
    with httpx.Client(base_url=server.url) as client:
        for _ in range(total):
            assert client.get("/shop/compare/same/").status_code == 200

        # Every drawn request is counted, compared or skipped (a busy pair), once its run ends.
        wait_until(lambda: comparisons(admin)["match"] == len(shadow_log(client)), message=str(comparisons(admin)))
    counts = comparisons(admin)
    drawn = counts["match"] + counts["skipped"]
    # 5 standard deviations of the binomial (sqrt(400 * 0.25) = 10): a false alarm about once
    # in 1.7 million runs.
    assert abs(drawn - total * 0.5) <= 5 * math.sqrt(total * 0.25), counts
    assert counts["differ"] == 0


def test_shadow_requests_are_not_in_the_access_log_nor_the_request_metrics(shadow_server):
    log_format = "--access-log-format=%(m)s %(U)s %(mount)s"
    server, admin = shadow_server(args=("--access-log", log_format), capture_stdout=True)
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/shop/compare/same/").status_code == 200
        wait_for_results(admin, match=1)
        client.get("/_next/_log")
    # A line for the shadow's request would come between the two clients'.
    assert server.stdout_lines(2) == ["GET /shop/compare/same/ /shop", "GET /_next/_log /_next"]

    def counted() -> set[tuple[str, float]]:
        text = httpx.get(f"{admin}/metrics").text
        return {
            (sample.labels["mount"], sample.value)
            for family in parser.text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "http_server_request_duration_seconds_count"
        }

    # One request each: the clients'.
    wait_until(lambda: counted() == {("/shop", 1), ("/_next", 1)}, message=str(counted()))


def test_a_slow_shadow_neither_delays_nor_changes_the_answer(shadow_server):
    server, admin = shadow_server()
    with httpx.Client(base_url=server.url) as client:
        client.get("/shop/compare/same/")  # Django's first request loads it
        wait_for_results(admin, match=1)
        for _ in range(3):
            started = time.monotonic()
            response = client.get("/shop/compare/slow/")
            elapsed = time.monotonic() - started
            assert (response.status_code, response.text) == (200, "slow answer")
            # The shadow sleeps 2 s per request; the client waits for none of them.
            assert elapsed < 1.0, elapsed
    # The comparisons end after the shadow's sleeps, all matching.
    wait_for_results(admin, match=4)


def test_a_busy_shadow_pair_skips_and_counts(shadow_server):
    server, admin = shadow_server("shadow-max-concurrency = 1")
    with httpx.Client(base_url=server.url) as client:
        client.delete("/_next/_log")
        for _ in range(4):
            assert client.get("/shop/compare/slow/").status_code == 200
        # The first holds the only slot for the shadow's 2 s: the others are skipped at once.
        assert comparisons(admin)["skipped"] == 3
        assert shadow_status(admin)["skipped_by_reason"]["busy"] == 3
        wait_for_results(admin, match=1, skipped=3)
        assert len(shadow_log(client)) == 1
        # Once the slot is free, comparisons run again.
        client.get("/shop/compare/same/")
        wait_for_results(admin, match=2, skipped=3)


def test_status_lists_the_pair_and_keeps_the_last_twenty_differences(shadow_server):
    # Enough slots that no comparison is skipped while the shadows catch up.
    server, admin = shadow_server("shadow-max-concurrency = 64")
    with httpx.Client(base_url=server.url) as client:
        for _ in range(25):
            client.get("/shop/compare/status/")
    wait_for_results(admin, differ=25)
    shadow = shadow_status(admin)
    assert (shadow["mount"], shadow["differ"], len(shadow["recent_differences"])) == ("/_next", 25, 20)
    assert "shadow" not in httpx.get(f"{admin}/status").json()["mounts"]["/_next"]


def test_a_compressed_answer_is_compared_as_the_app_sent_it(shadow_server):
    server, admin = shadow_server('compress = ["gzip"]', "compress-min-size = 10")
    with httpx.Client(base_url=server.url) as client:
        response = client.get("/shop/compare/json/", headers={"Accept-Encoding": "gzip"})
        # The client gets gzip (httpx decodes it); the comparison saw the JSON before that.
        assert response.headers["content-encoding"] == "gzip"
        assert response.json()["total"] == 22
    wait_for_results(admin, differ=1)
    (entry,) = shadow_status(admin)["recent_differences"]
    assert entry["differences"] == ["body at $.items[1].price: 12 vs 13"]


def test_a_streamed_request_body_is_skipped(shadow_server):
    server, admin = shadow_server('shadow-methods = ["POST"]')
    with httpx.Client(base_url=server.url) as client:
        client.delete("/_next/_log")
        # Past the 64 KiB pre-read, the body streams to Django: it cannot be sent twice.
        assert client.post("/shop/compare/same/", content=b"x" * 200_000).status_code == 200
        assert client.post("/shop/compare/same/", content=b"x" * 100).status_code == 200
        wait_for_results(admin, match=1, skipped=1)
        assert shadow_status(admin)["skipped_by_reason"]["streamed_body"] == 1
        assert len(shadow_log(client)) == 1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('shadow = "nowhere"', "shadow 'nowhere' of mount '/shop': expected the name or prefix of another mount"),
        ("shadow-sample = 1.5", "shadow-sample 1.5: expected a rate from 0 to 1"),
        ('shadow-methods = ["GE T"]', "shadow-methods 'GE T': expected an HTTP method"),
    ],
)
def test_bad_shadow_keys_exit_2_naming_key_and_value(run_cli, tmp_path: Path, line: str, message: str):
    config = tmp_path / "amphicorn.toml"
    text = config_text().replace('shadow = "next"', line if line.startswith("shadow =") else f'shadow = "next"\n{line}')
    config.write_text(text)
    result = run_cli(f"--config={config}")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr, result.stderr
