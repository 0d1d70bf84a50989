"""deploy/prometheus/alerts.yml: valid, job-scoped, and its promtool tests pass.

The promtool tests (deploy/prometheus/tests/*.yml) replay series recorded from
a live healthy stack (nothing may fire) and a stalled one (the stall alerts
must fire); deploy/prometheus/record.py records them, and
tests/e2e/test_alerts_recorded.py records afresh and runs them.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml
from tests.conftest import skip_or_fail

from orbitpay.db import readpool  # noqa: F401  (its collector's families are owned too)
from orbitpay.observability.metrics import OWNERS, Role
from orbitpay.observability.promql import selectors

REPO = Path(__file__).resolve().parents[3]
PROM = REPO / "deploy" / "prometheus"
RULES = PROM / "alerts.yml"
JOB_OF = {Role.INDEXER: "orbitpay-indexer", Role.API: "orbitpay-api"}
ALL_IN_ONE = "orbitpay"  # `orbitpay up`: both roles in one process


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        skip_or_fail("promtool is not installed (Debian: apt-get install prometheus)")
    return found


def rules() -> list[dict[str, object]]:
    doc = yaml.safe_load(RULES.read_text())
    return [r for g in doc["groups"] for r in g["rules"]]


def family(sample_name: str) -> str:
    for suffix in ("_total", "_bucket", "_count", "_sum"):
        if sample_name.endswith(suffix) and sample_name.removesuffix(suffix) in OWNERS:
            return sample_name.removesuffix(suffix)
    return sample_name


def test_every_selector_names_the_job_of_the_role_that_exports_it() -> None:
    for rule in rules():
        found = selectors(str(rule["expr"]))
        assert found, rule["alert"]
        for sel in found:
            assert sel.job_op in ("=", "=~"), (rule["alert"], sel)
            if sel.name == "up":  # Prometheus' own, per scrape target
                assert sel.job_matches(ALL_IN_ONE), (rule["alert"], sel)
                continue
            role = OWNERS[family(sel.name)]
            assert sel.job_matches(JOB_OF[role]) and sel.job_matches(ALL_IN_ONE), (
                rule["alert"],
                sel,
            )
            other = JOB_OF[Role.API if role == Role.INDEXER else Role.INDEXER]
            assert not sel.job_matches(other), (rule["alert"], sel)


def test_the_rules_are_valid() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_recorded_tests_cover_every_alert() -> None:
    names = {str(r["alert"]) for r in rules()}
    for name in ("healthy.yml", "stalled.yml"):
        doc = yaml.safe_load((PROM / "tests" / name).read_text())
        tested = {c["alertname"] for t in doc["tests"] for c in t["alert_rule_test"]}
        assert tested == names, (name, names ^ tested)


def test_promtool_passes_on_the_recorded_series() -> None:
    files = sorted(str(p) for p in (PROM / "tests").glob("*.yml"))
    assert len(files) >= 2
    result = subprocess.run(
        [promtool(), "test", "rules", *files], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
