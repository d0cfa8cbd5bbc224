"""Helpers for the admin listener's tests: where it listens, and its exposition parsed by the
official ``prometheus_client`` parsers into samples by name and labels."""

from __future__ import annotations

import re

import httpx
from prometheus_client import parser
from prometheus_client.openmetrics import parser as openmetrics_parser

ADMIN_RE = re.compile(r"Admin listener \(.*?\) on (http://\S+)")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def admin_url(server) -> str:
    """The admin listener's URL, from the server's start-up log."""
    match = ADMIN_RE.search(server.stderr())
    assert match, server.stderr()
    return match.group(1)


def scrape(admin: str, *, openmetrics: bool = False) -> Samples:
    """Every sample of ``/metrics``, by name and labels, parsed by the official parser."""
    headers = {"Accept": "application/openmetrics-text; version=1.0.0"} if openmetrics else {}
    response = httpx.get(f"{admin}/metrics", headers=headers)
    assert response.status_code == 200
    if openmetrics:
        assert response.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
        families = openmetrics_parser.text_string_to_metric_families(response.text)
    else:
        assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        families = parser.text_string_to_metric_families(response.text)
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in families
        for sample in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; a KeyError naming it (and what is there) when it is missing."""
    key = (name, frozenset(labels.items()))
    if key not in samples:
        present = sorted(str(dict(other)) for other_name, other in samples if other_name == name)
        raise KeyError(f"{name}{labels} not among {present}")
    return samples[key]
