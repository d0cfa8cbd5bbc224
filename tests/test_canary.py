"""The weighted canary (``canary = "next"`` on a mount), on real processes: the old site is the
Django project of tests/django_project (its ``/where/`` view), the new service a FastAPI app
(tests/asgi_apps/canary_api.py) that answers the same URL, mounted apart at ``/_next``.

Shares are checked over 2000 requests against the binomial distribution, within 5 standard
deviations (a false alarm about once in 1.7 million runs; with a key header the split is
a fixed function of the keys, so those runs do not vary at all).
"""

from __future__ import annotations

import math
import re
import signal
from pathlib import Path

import httpx
import pytest
from prometheus_client import parser
from support import wait_until

ADMIN_RE = re.compile(r"Admin listener \(.*?\) on (http://\S+)")
REQUESTS = 2000


def config_text(*canary_keys: str, admin: bool = True) -> str:
    """Django at /shop with the FastAPI canary ``next`` at /_next; ``canary_keys`` are more
    lines of the /shop table."""
    head = 'admin-bind = "127.0.0.1:0"\n' if admin else ""
    keys = "\n".join(canary_keys)
    return f"""{head}
[[mount]]
prefix = "/shop"
name = "shop"
app = "django_project.wsgi:application"
canary = "next"
{keys}

[[mount]]
prefix = "/_next"
name = "next"
app = "asgi:asgi_apps.canary_api:app"
"""


@pytest.fixture
def canary_server(serve, tmp_path: Path):
    """``canary_server(*keys, args=()) -> (server, admin URL, config path)``."""

    def start(*keys: str, args: tuple[str, ...] = ()):
        config = tmp_path / "amphicorn.toml"
        config.write_text(config_text(*keys))
        server = serve(f"--config={config}", *args)
        match = ADMIN_RE.search(server.stderr())
        assert match, server.stderr()
        return server, match.group(1), config

    return start


def answered_by(response: httpx.Response) -> str:
    """``fastapi`` (the canary) or ``django`` (the primary)."""
    assert response.status_code in (200, 500), response.text
    return "fastapi" if response.json().get("app") == "fastapi" else "django"


def within_bounds(count: int, total: int, percent: float) -> bool:
    mean = total * percent / 100
    sigma = math.sqrt(total * percent / 100 * (1 - percent / 100))
    return abs(count - mean) <= 5 * sigma


def canary_state(admin: str, mount: str = "shop") -> dict:
    response = httpx.get(f"{admin}/canary/{mount}")
    assert response.status_code == 200, response.text
    return response.json()


def put_weight(admin: str, body: str, mount: str = "shop") -> httpx.Response:
    return httpx.put(f"{admin}/canary/{mount}", content=body)


def metrics(admin: str) -> dict[tuple[str, frozenset], float]:
    text = httpx.get(f"{admin}/metrics").text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in parser.text_string_to_metric_families(text)
        for sample in family.samples
    }


def canary_metric(admin: str, name: str) -> float:
    return metrics(admin)[(name, frozenset({("mount", "/shop"), ("canary", "/_next")}))]


def test_key_header_shares_follow_the_weight_and_put_changes_it_live(canary_server):
    server, admin, _ = canary_server("canary-weight = 10", 'canary-key-header = "X-User-Id"')
    with httpx.Client(base_url=server.url) as client:
        for weight, offset in ((10, 0), (50, REQUESTS)):
            if weight != 10:
                changed = put_weight(admin, f'{{"weight": {weight}}}')
                assert changed.status_code == 200
                assert changed.json()["weight"] == weight
            canary = 0
            for key in range(offset, offset + REQUESTS):
                response = client.get("/shop/where/", headers={"X-User-Id": f"user-{key}"})
                # Sticky by the header: no cookie is needed, none is set.
                assert "set-cookie" not in response.headers
                canary += answered_by(response) == "fastapi"
            assert within_bounds(canary, REQUESTS, weight), (weight, canary)
        # The same key always gets the same variant.
        for key in range(50):
            variants = {answered_by(client.get("/shop/where/", headers={"X-User-Id": f"u{key}"})) for _ in range(5)}
            assert len(variants) == 1, key
    assert canary_metric(admin, "amphicorn_canary_weight") == 50


def test_random_draws_without_cookies_and_the_canary_answers_at_the_primarys_prefix(canary_server):
    server, admin, _ = canary_server("canary-weight = 10")
    canary = 0
    with httpx.Client(base_url=server.url) as client:
        for _ in range(REQUESTS):
            client.cookies.clear()
            response = client.get("/shop/where/")
            variant = answered_by(response)
            expected = "canary" if variant == "fastapi" else "stable"
            assert response.headers["set-cookie"] == f"amphicorn-canary={expected}; Path=/; HttpOnly; SameSite=Lax"
            if variant == "fastapi":
                canary += 1
                # The canary takes the request at the primary's prefix, as Django does.
                assert response.json() == {"app": "fastapi", "root_path": "/shop", "path": "/shop/where/"}
            else:
                assert (response.json()["script_name"], response.json()["path"]) == ("/shop", "/shop/where/")
    assert within_bounds(canary, REQUESTS, 10), canary

    # The request metrics count each under the mount that answered (once its body is out).
    def answered() -> dict[str, float]:
        return {
            dict(labels)["mount"]: value
            for (name, labels), value in metrics(admin).items()
            if name == "http_server_request_duration_seconds_count"
        }

    wait_until(lambda: answered() == {"/_next": canary, "/shop": REQUESTS - canary}, message=str(answered()))
    # The canary's own counter tells the variants apart by status class, as /status does.
    by_variant = {
        (dict(labels)["variant"], dict(labels)["status_class"]): value
        for (name, labels), value in metrics(admin).items()
        if name == "amphicorn_canary_requests_total" and value
    }
    assert by_variant == {("canary", "2xx"): canary, ("stable", "2xx"): REQUESTS - canary}
    requests = canary_state(admin)["requests"]
    assert requests["canary"] == {"total": canary, "1xx": 0, "2xx": canary, "3xx": 0, "4xx": 0, "5xx": 0}
    assert requests["stable"]["total"] == requests["stable"]["2xx"] == REQUESTS - canary
    assert httpx.get(f"{admin}/status").json()["mounts"]["/shop"]["canary"]["requests"] == requests


def test_the_access_log_shows_the_canary_mount(serve, tmp_path: Path):
    config = tmp_path / "amphicorn.toml"
    config.write_text(config_text("canary-weight = 100", admin=False))
    log_format = "--access-log-format=%(U)s %(mount)s %(variant)s"
    server = serve(f"--config={config}", "--access-log", log_format, capture_stdout=True)
    with httpx.Client(base_url=server.url) as client:
        assert answered_by(client.get("/shop/where/")) == "fastapi"
        assert client.get("/_next/where/").status_code == 200
    assert server.stdout_lines(2) == ["/shop/where/ /_next canary", "/_next/where/ /_next -"]


def test_a_cookie_keeps_its_variant_while_the_weight_is_above_zero(canary_server):
    server, admin, _ = canary_server("canary-weight = 50")
    clients = {}
    with httpx.Client(base_url=server.url) as first:
        while len(clients) < 2:
            first.cookies.clear()
            response = first.get("/shop/where/")
            clients.setdefault(answered_by(response), response.cookies["amphicorn-canary"])
    assert clients == {"fastapi": "canary", "django": "stable"}
    for variant, cookie in clients.items():
        with httpx.Client(base_url=server.url, cookies={"amphicorn-canary": cookie}) as client:
            for _ in range(30):
                response = client.get("/shop/where/")
                assert answered_by(response) == variant
                assert "set-cookie" not in response.headers
    # At weight 0 everybody gets the primary, whatever the cookie says.
    assert put_weight(admin, "0").json()["weight"] == 0
    with httpx.Client(base_url=server.url, cookies={"amphicorn-canary": "canary"}) as client:
        assert {answered_by(client.get("/shop/where/")) for _ in range(30)} == {"django"}


def test_rollback_when_the_canary_starts_failing(canary_server):
    server, admin, _ = canary_server("canary-weight = 50", "canary-max-error-rate = 0.1", "canary-window = 30")
    with httpx.Client(base_url=server.url) as client:
        for _ in range(100):
            client.cookies.clear()
            assert client.get("/shop/where/").status_code == 200
        assert canary_state(admin)["rolled_back"] is False
        assert client.put("/_next/_fail", params={"every": 1}).json() == {"every": 1}
        sent = 0
        while not canary_state(admin)["rolled_back"] and sent < 1000:
            client.cookies.clear()
            client.get("/shop/where/")
            sent += 1
        # The window held ~100 good answers of ~50 canary ones: it takes about 6 failures
        # (well within the window's 30 s) to pass 10%.
        assert sent < 100, sent
        state = canary_state(admin)
        assert state["weight"] == 0
        assert "passed canary-max-error-rate 0.1" in state["reason"], state
        assert server.wait_for_stderr("WARNING")
        assert re.search(r"WARNING.*Canary /_next of mount /shop rolled back to weight 0: error rate", server.stderr())
        assert canary_metric(admin, "amphicorn_canary_rollbacks_total") == 1
        assert canary_metric(admin, "amphicorn_canary_weight") == 0
        # From then on the primary answers everybody, the canary's cookie holders too.
        client.cookies.set("amphicorn-canary", "canary")
        assert {client.get("/shop/where/").status_code for _ in range(50)} == {200}
    # A new weight clears the rollback.
    state = put_weight(admin, '{"weight": 5}').json()
    assert (state["weight"], state["rolled_back"], state["reason"]) == (5, False, None)


def test_no_rollback_below_the_bound(canary_server):
    server, admin, _ = canary_server("canary-weight = 50", "canary-max-error-rate = 0.2")
    with httpx.Client(base_url=server.url) as client:
        # One canary answer in 10 fails: 10%, under the 20% bound.
        assert client.put("/_next/_fail", params={"every": 10}).status_code == 200
        statuses = []
        for _ in range(600):
            client.cookies.clear()
            statuses.append(client.get("/shop/where/").status_code)
    assert 500 in statuses
    state = canary_state(admin)
    assert (state["weight"], state["rolled_back"]) == (50, False)
    assert state["window"]["answers"] >= 200
    assert canary_metric(admin, "amphicorn_canary_rollbacks_total") == 0


def test_the_admin_endpoint_refuses_bad_weights_and_unknown_mounts(canary_server):
    _, admin, _ = canary_server("canary-weight = 10")
    for body in ("101", "-1", '{"weight": "x"}', "{}", "nope"):
        response = put_weight(admin, body)
        assert response.status_code == 400, body
    assert canary_state(admin)["weight"] == 10
    assert put_weight(admin, "5", mount="next").status_code == 404
    assert put_weight(admin, "5", mount="nowhere").status_code == 404
    # By address too.
    assert put_weight(admin, "7", mount="/shop").json()["weight"] == 7
    listed = httpx.get(f"{admin}/canary").json()
    assert [(state["mount"], state["canary"], state["weight"]) for state in listed] == [("/shop", "/_next", 7)]
    assert httpx.post(f"{admin}/canary/shop").status_code == 405


def test_sighup_sets_the_weights_of_the_config_file_anew(canary_server):
    server, admin, config = canary_server("canary-weight = 10")
    assert server.wait_for_stderr("10% of the requests to /shop go to its canary /_next")
    config.write_text(config.read_text().replace("canary-weight = 10", "canary-weight = 40"))
    server.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: canary_state(admin)["weight"] == 40, message=server.stderr())
    assert server.wait_for_stderr("Canary weight of mount /shop set to 40%")
    # A bad file changes nothing, and the server goes on.
    config.write_text(config.read_text().replace("canary-weight = 40", "canary-weight = 400"))
    server.proc.send_signal(signal.SIGHUP)
    assert server.wait_for_stderr("Canary weights not reloaded")
    assert canary_state(admin)["weight"] == 40
    assert httpx.get(f"{server.url}/shop/where/").status_code == 200


@pytest.mark.parametrize(
    ("keys", "named"),
    [
        (["canary-weight = 10"], "canary-weight"),
        (["canary = 'nowhere'"], "canary 'nowhere'"),
        (["canary = 'shop'"], "canary 'shop'"),
        (["canary = 'next'", "canary-weight = 150"], "canary-weight 150"),
        (["canary = 'next'", "canary-weight = -1"], "canary-weight -1"),
        (["canary = 'next'", "canary-max-error-rate = 1.5"], "canary-max-error-rate 1.5"),
        (["canary = 'next'", "canary-window = 0"], "canary-window 0"),
        (["canary = 'next'", "canary-key-header = 'X User'"], "canary-key-header 'X User'"),
        (["canary = 'next'", "canary-cookie = 'a;b'"], "canary-cookie 'a;b'"),
    ],
)
def test_bad_canary_settings_exit_2_naming_the_key_and_value(run_cli, tmp_path: Path, keys, named):
    text = config_text(admin=False).replace('canary = "next"\n', "\n".join(keys) + "\n")
    config = tmp_path / "amphicorn.toml"
    config.write_text(text)
    result = run_cli(f"--config={config}")
    assert result.returncode == 2, result.stderr
    assert named in result.stderr, result.stderr
    assert "Listening" not in result.stderr
