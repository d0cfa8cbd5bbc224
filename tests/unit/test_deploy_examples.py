"""The deployment examples stay true: examples/kubernetes/ and examples/systemd/.

The manifests are parsed (PyYAML; the unit files by their own simple syntax) and checked
against the command line they carry: the probes and the Prometheus annotations point at the
``--admin-bind`` port, the Service at the ``--bind`` port, the autoscaler at the Deployment,
the socket unit at the service unit, and the time Kubernetes or systemd gives a stopping
process before SIGKILL exceeds ``--shutdown-delay`` plus ``--timeout-graceful-shutdown``.
Then each command runs with ``--check-config`` in a copy of examples/mixed (the image's or
the host's working directory, ``collectstatic`` done), and must exit 0.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "examples" / "kubernetes"
SYSTEMD = ROOT / "examples" / "systemd"
MIXED = ROOT / "examples" / "mixed"
#: Time a stopping process needs beyond the delay and the drain (lifespan shutdown, exit).
STOP_MARGIN = 5.0


def manifests() -> dict[str, dict]:
    """Every Kubernetes object of examples/kubernetes, by kind."""
    objects = [doc for path in sorted(KUBERNETES.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text())]
    by_kind = {obj["kind"]: obj for obj in objects}
    assert len(by_kind) == len(objects), "one object of each kind"
    return by_kind


def unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit file: section -> key -> values (a key may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        assert current is not None, f"{path.name}: {line!r} before any section"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def option(command: list[str], flag: str, default: str | None = None) -> str | None:
    """The value of ``flag`` in an amphicorn command line (``--flag VALUE``)."""
    values = [command[i + 1] for i, word in enumerate(command[:-1]) if word == flag]
    assert len(values) <= 1, f"{flag} given twice"
    return values[0] if values else default


def stop_budget(command: list[str]) -> float:
    """Seconds a stop takes at most: the shutdown delay, the drain, and the margin."""
    delay = float(option(command, "--shutdown-delay", "0") or 0)
    graceful = float(option(command, "--timeout-graceful-shutdown", "30") or 30)
    return delay + graceful + STOP_MARGIN


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def check_config(command: list[str], working_directory: Path) -> subprocess.CompletedProcess[str]:
    """``command --check-config``, run by this Python (``amphicorn`` may not be on PATH)."""
    assert Path(command[0]).name == "amphicorn", command
    return subprocess.run(
        [sys.executable, "-m", "amphicorn", *command[1:], "--check-config"],
        cwd=working_directory,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def deployed_mixed(tmp_path_factory) -> Path:
    """examples/mixed as an image or a host holds it: copied, its static files collected
    (an empty directory stands for them: the static mount only needs it to exist)."""
    app = tmp_path_factory.mktemp("deployed") / "mixed"
    shutil.copytree(MIXED, app, ignore=shutil.ignore_patterns("staticfiles", "__pycache__"))
    (app / "staticfiles").mkdir()
    return app


def test_the_deployment_probes_and_scrape_annotations_use_the_admin_port():
    deployment = manifests()["Deployment"]
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    command = container["command"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    admin = option(command, "--admin-bind")
    assert admin is not None, "the probes need the admin listener"
    assert ports["admin"] == port_of(admin)
    assert ports["http"] == port_of(option(command, "--bind") or "")
    probes = {name: container[name]["httpGet"] for name in ("startupProbe", "livenessProbe", "readinessProbe")}
    for probe in probes.values():
        assert probe["port"] in ("admin", port_of(admin))
    assert probes["livenessProbe"]["path"] == probes["startupProbe"]["path"] == "/healthz"
    assert probes["readinessProbe"]["path"] == "/readyz"
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == port_of(admin)
    assert annotations["prometheus.io/path"] == "/metrics"
    # One process per pod: the admin listener serves a single process.
    assert option(command, "--workers", "1") == "1"


def test_the_grace_period_exceeds_the_delay_and_the_drain():
    deployment = manifests()["Deployment"]
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    command = container["command"]
    assert spec["terminationGracePeriodSeconds"] > stop_budget(command)
    # The delay outlasts the readiness probe's own delay in noticing the 503.
    readiness = container["readinessProbe"]
    delay = float(option(command, "--shutdown-delay", "0") or 0)
    assert delay >= readiness["periodSeconds"] * readiness["failureThreshold"]


def test_the_service_and_the_autoscaler_point_at_the_deployment():
    objects = manifests()
    deployment, service, autoscaler = objects["Deployment"], objects["Service"], objects["HorizontalPodAutoscaler"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert {port["targetPort"] for port in service["spec"]["ports"]} == {"http"}
    assert "http" in {port["name"] for port in container["ports"]}
    target = autoscaler["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert autoscaler["apiVersion"] == "autoscaling/v2"
    assert "cpu" in container["resources"]["requests"], "CPU utilization needs a CPU request"


def test_the_deployment_command_passes_check_config(deployed_mixed):
    (container,) = manifests()["Deployment"]["spec"]["template"]["spec"]["containers"]
    result = check_config(container["command"], deployed_mixed)
    assert result.returncode == 0, result.stderr
    assert "admin: http://0.0.0.0:9000 (/healthz, /readyz, /metrics)" in result.stdout
    assert "binds: http://0.0.0.0:8000" in result.stdout
    assert "mount /api: ASGI app asgi:api.main:app" in result.stdout


def test_the_socket_unit_activates_the_service_unit():
    socket_unit = unit(SYSTEMD / "amphicorn-mixed.socket")
    service_unit = unit(SYSTEMD / "amphicorn-mixed.service")
    # Same name: the socket starts the service and passes it LISTEN_FDS (no Service= needed).
    assert "Service" not in socket_unit["Socket"]
    assert socket_unit["Socket"]["ListenStream"]
    assert "amphicorn-mixed.socket" in service_unit["Unit"]["Requires"]
    assert socket_unit["Install"]["WantedBy"] == ["sockets.target"]


def test_the_service_unit_stops_in_time_and_passes_check_config(deployed_mixed):
    service = unit(SYSTEMD / "amphicorn-mixed.service")["Service"]
    (exec_start,) = service["ExecStart"]
    command = shlex.split(exec_start)
    (stop_timeout,) = service["TimeoutStopSec"]
    assert float(stop_timeout) > stop_budget(command)
    # SIGTERM to the supervisor alone: it stops its workers itself.
    assert service["KillMode"] == ["mixed"]
    assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    result = check_config(command, deployed_mixed)
    assert result.returncode == 0, result.stderr
    assert "workers: 4 under a supervisor" in result.stdout
    assert "health path: /healthz" in result.stdout
