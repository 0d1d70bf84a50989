"""Each metric family has one owning role, and an endpoint exposes only its roles' families."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from orbitpay.db import readpool  # noqa: F401  (registers the read pool's collector)
from orbitpay.observability import metrics
from orbitpay.observability.metrics import OWNERS, REGISTRY, Role, registry_for


def families(*roles: Role) -> set[str]:
    text = generate_latest(registry_for(*roles)).decode()
    return {f.name for f in text_string_to_metric_families(text)}


@pytest.fixture
def no_enabled_roles(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process runs no role (other tests in the session may have run an indexer)."""
    monkeypatch.setattr(metrics, "_ENABLED", set())


def test_every_family_has_an_owner() -> None:
    collected = {family.name for family in REGISTRY.collect()}
    assert collected - OWNERS.keys() == set()


def test_an_api_endpoint_exposes_no_indexer_family(no_enabled_roles: None) -> None:
    api = families(Role.API)
    indexer_owned = {n for n, role in OWNERS.items() if role == Role.INDEXER}
    assert api & indexer_owned == set()
    # The gauges that made alerts fire on a healthy API are gone from it.
    assert "orbitpay_indexer_up" not in api
    assert "orbitpay_rpc_up" not in api
    assert "orbitpay_http_requests" in api and "orbitpay_database_up" in api


def test_an_indexer_endpoint_exposes_no_api_family(no_enabled_roles: None) -> None:
    indexer = families(Role.INDEXER)
    api_owned = {n for n, role in OWNERS.items() if role == Role.API}
    assert indexer & api_owned == set()
    assert "orbitpay_database_up" not in indexer
    assert {"orbitpay_indexer_up", "orbitpay_rpc_requests", "orbitpay_discrepancies"} <= indexer


def test_one_process_running_both_roles_exposes_both(no_enabled_roles: None) -> None:
    metrics.enable_role(Role.INDEXER)
    assert metrics.enabled_roles() == {Role.INDEXER}
    both = families(Role.API)
    assert {"orbitpay_indexer_up", "orbitpay_http_requests"} <= both


def test_counters_that_alerts_increase_start_at_zero(no_enabled_roles: None) -> None:
    """increase() misses a series' first increment; a series present at 0 does not."""
    text = generate_latest(registry_for(Role.INDEXER)).decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items())))
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    assert ("orbitpay_discrepancies_total", (("entity", "stream"), ("source", "reconcile"))) in (
        samples
    )
    assert ("orbitpay_rpc_requests_total", (("method", "getEvents"), ("outcome", "error"))) in (
        samples
    )
    assert ("orbitpay_network_reset_total", (("action", "stop"),)) in samples
