"""The alert rules on series recorded live: a healthy stack fires nothing, a frozen RPC fires
the stall alerts.

Runs deploy/prometheus/record.py's recording (devnet, ``orbitpay index``,
``orbitpay api`` on a fresh database; 3 minutes healthy, then the devnet
stopped with SIGSTOP for 5.5 minutes, scraped every 15 s as Prometheus does),
writes the promtool tests and runs ``promtool test rules`` on them. The
committed deploy/prometheus/tests/*.yml are one such recording
(tests/unit/observability/test_alert_rules.py replays them in a second).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from tests.conftest import skip_or_fail
from tests.e2e.db_helpers import new_database
from tests.e2e.helpers import REPO

RECORD = REPO / "deploy" / "prometheus" / "record.py"


def load_recorder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("orbitpay_record_alerts", RECORD)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(1200)
def test_recorded_healthy_and_stalled_stacks_pass_the_rule_tests(
    databases: list[str], tmp_path: Path
) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        skip_or_fail("promtool is not installed (Debian: apt-get install prometheus)")
    recorder = load_recorder()
    db = new_database(databases, "orbitpay_alerts")
    recording = recorder.record(db, tmp_path, log=lambda _: None)
    files = recorder.write_tests(recording, tmp_path / "tests", rule_file=str(recorder.RULES))

    # The stall really was one: the scrape-time lag rose through it, no page committed.
    lag = next(
        v for k, v in recording.series.items() if k.startswith("orbitpay_indexer_lag_seconds")
    )
    stall = recording.marks["stalled"]
    assert max(v for s, v in lag.items() if s < stall) < 60
    assert lag[recording.steps - 1] > 300
    stalled = yaml.safe_load(files[1].read_text())
    assert stalled["tests"][0]["input_series"]

    result = subprocess.run(
        [promtool, "test", "rules", *map(str, files)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
