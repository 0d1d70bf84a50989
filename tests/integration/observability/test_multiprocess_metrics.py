"""Several API workers (uvicorn --workers) with PROMETHEUS_MULTIPROC_DIR: one truthful /metrics.

Without multiprocess mode each worker counts only the requests it served, and
a scrape reads whichever worker answers it: counters jump back and forth.
With it, every scrape reads all workers' files: the sum, whoever answers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from tests.e2e.helpers import clean_env, free_port, stop, wait_http

FACTORY = """
from orbitpay.api.app import create_app
from orbitpay.config import load_settings


def app():
    return create_app(load_settings())
"""


def health_count(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if (
                s.name == "orbitpay_http_requests_total"
                and s.labels.get("route") == "/health"
                and s.labels.get("status") == "200"
            ):
                return s.value
    return 0.0


def test_two_workers_share_their_counters(database_url: str, tmp_path: Path) -> None:
    prom = tmp_path / "prom"
    prom.mkdir()
    (tmp_path / "apifactory.py").write_text(FACTORY)
    port = free_port()
    env = clean_env(ORBITPAY_DATABASE_URL=database_url, PROMETHEUS_MULTIPROC_DIR=str(prom))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "apifactory:app",
            "--app-dir",
            str(tmp_path),
            "--workers",
            "2",
            "--port",
            str(port),
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/health", timeout=60, proc=proc)
        # Both workers up: each writes its own files (counter_<pid>.db) once it counts.
        before = health_count(httpx.get(f"{base}/metrics", timeout=10).text)
        served = 60
        for _ in range(served):  # a new connection each: the kernel spreads them
            assert httpx.get(f"{base}/health", timeout=10).status_code == 200
        pids = {p.name.split("_")[-1] for p in prom.glob("counter_*.db")}
        assert len(pids) >= 2, sorted(os.listdir(prom))
        for _ in range(6):  # whichever worker answers, it reports every worker's requests
            text = httpx.get(f"{base}/metrics", timeout=10).text
            assert health_count(text) - before == served
            # No indexer metric (both workers created the label sets at import).
            assert "orbitpay_rpc_requests_total" not in text
            assert "orbitpay_indexer_up" not in text
            assert "orbitpay_database_up 1.0" in text
            time.sleep(0.05)
    finally:
        stop(proc)
