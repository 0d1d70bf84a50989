"""Every metric name an alert rule or a dashboard query reads is exported, by the right role.

A live stack: a devnet, ``orbitpay index`` (its metrics listener: job
orbitpay-indexer) and ``orbitpay api`` (GET /metrics: job orbitpay-api), with
some API traffic. Each selector of deploy/prometheus/alerts.yml and of the
Grafana dashboards names a job; the metric must be in the live scrape of every
role that job can be. And neither process exports the other role's families
(the API used to export ``orbitpay_indexer_up 0``, and alerts fired on it).
``orbitpay up`` (both roles in one process) exports both.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from orbitpay.db import readpool  # noqa: F401  (its collector's families are owned too)
from orbitpay.observability.metrics import OWNERS, Role
from orbitpay.observability.promql import Selector, selectors
from tests.e2e.db_helpers import new_database
from tests.e2e.helpers import (
    REPO,
    clean_env,
    free_port,
    run,
    start,
    stop,
    wait_for,
    wait_http,
)

JOBS = {Role.INDEXER: "orbitpay-indexer", Role.API: "orbitpay-api"}


def scrape(url: str) -> tuple[set[str], set[str]]:
    """(sample names, family names) of a live /metrics."""
    text = httpx.get(url, timeout=10).text
    families = list(text_string_to_metric_families(text))
    return {s.name for f in families for s in f.samples}, {f.name for f in families}


def queries() -> Iterator[tuple[str, str]]:
    """(where, expr) of every alert rule and dashboard query."""
    rules = yaml.safe_load((REPO / "deploy/prometheus/alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            yield f"alert {rule['alert']}", str(rule["expr"])
    for path in sorted((REPO / "deploy/grafana/dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                yield f"{path.name}: {panel['title']}", target["expr"]


def gauge(url: str, name: str) -> float | None:
    for family in text_string_to_metric_families(httpx.get(url, timeout=5).text):
        for s in family.samples:
            if s.name == name:
                return s.value
    return None


@pytest.fixture
def devnet() -> Iterator[str]:
    from orbitpay.devnet.server import start_background_devnet

    handle = start_background_devnet(scenario="demo", seed=1, live=True)
    try:
        yield handle.url
    finally:
        handle.stop()


def traffic(base: str) -> None:
    """Light API traffic: request, latency and cache series exist (as in production)."""
    for _ in range(3):
        for path in ("/health", "/api/organizations", "/api/streams?limit=5", "/no/such/path"):
            httpx.get(base + path, timeout=10)


def test_alert_and_dashboard_metrics_are_exported_by_their_role(
    databases: list[str], devnet: str, tmp_path: Path
) -> None:
    db = new_database(databases, "orbitpay_names")
    metrics_port, api_port = free_port(), free_port()
    env = clean_env(
        ORBITPAY_DATABASE_URL=db,
        ORBITPAY_RPC_URL=devnet,
        ORBITPAY_CURSOR_SECRET="names-test-cursor-secret-0123456789",
    )
    registered = run(["org", "import-devnet", devnet], env, tmp_path)
    assert registered.returncode == 0, registered.stderr[-2000:]
    indexer = start(["index"], {**env, "ORBITPAY_METRICS_PORT": str(metrics_port)}, tmp_path)
    api = start(["api", "--port", str(api_port)], env, tmp_path)
    indexer_url = f"http://127.0.0.1:{metrics_port}/metrics"
    base = f"http://127.0.0.1:{api_port}"
    try:
        wait_http(indexer_url, timeout=60, proc=indexer)
        wait_http(f"{base}/health", timeout=60, proc=api)
        try:
            wait_for(lambda: (gauge(indexer_url, "orbitpay_indexer_lag_seconds") or 1e9) < 60, 300)
        except AssertionError:
            raise AssertionError(
                f"the indexer did not catch up:\n{stop(indexer)[-4000:]}"
            ) from None
        traffic(base)
        exported = {
            Role.INDEXER: scrape(indexer_url),
            Role.API: scrape(f"{base}/metrics"),
        }
    finally:
        stop(api)
        if indexer.poll() is None:
            stop(indexer)

    missing: list[str] = []
    for where, expr in queries():
        found = selectors(expr)
        assert found, where
        for sel in found:
            if sel.name == "up":  # Prometheus adds it per target
                continue
            roles = [r for r in Role if sel.job_matches(JOBS[r])]
            assert sel.job_op is not None and roles, f"{where}: {sel} names no OrbitPay job"
            missing += [
                f"{where}: {sel.name} not exported by the {r} role"
                for r in roles
                if sel.name not in exported[r][0]
            ]
    assert not missing, "\n".join(missing)

    # Each process exports its own role's families and no other.
    for role, (_, families) in exported.items():
        foreign = {f for f in families if OWNERS.get(f) not in (role, None)}
        assert not foreign, (role, sorted(foreign))
        assert families <= set(OWNERS), sorted(families - set(OWNERS))
    assert "orbitpay_indexer_up" in exported[Role.INDEXER][1]
    assert "orbitpay_database_up" in exported[Role.API][1]


def test_up_exports_both_roles(databases: list[str], devnet: str, tmp_path: Path) -> None:
    db = new_database(databases, "orbitpay_names")
    port = free_port()
    env = clean_env(
        ORBITPAY_DATABASE_URL=db,
        ORBITPAY_RPC_URL=devnet,
        ORBITPAY_CURSOR_SECRET="names-test-cursor-secret-0123456789",
    )
    proc = start(["up", "--port", str(port)], env, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/health", timeout=90, proc=proc)
        wait_for(lambda: "orbitpay_indexer_up 1.0" in httpx.get(f"{base}/metrics").text, 60)
        _, families = scrape(f"{base}/metrics")
    finally:
        stop(proc)
    assert {"orbitpay_indexer_up", "orbitpay_rpc_requests", "orbitpay_database_up"} <= families
    assert {"orbitpay_http_requests"} <= families


def test_selector_roles_are_read_from_job_matchers() -> None:
    """The check above relies on this: an indexer job matcher never selects the API job."""
    sel = Selector("orbitpay_indexer_up", "=~", "orbitpay-indexer|orbitpay")
    assert [r for r in Role if sel.job_matches(JOBS[r])] == [Role.INDEXER]
