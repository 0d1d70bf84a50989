"""``orbitpay up`` with no configuration at all — what ``make run`` starts.

Embedded PostgreSQL, in-process cache, and the built-in devnet's live demo:
the API must come up healthy, show the demo organization's data within
seconds, keep indexing new ledgers, and keep its data across a restart.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.helpers import clean_env, free_port, start, stop, wait_for, wait_http


def test_up_on_embedded_defaults_indexes_the_live_demo_and_survives_restart(
    tmp_path: Path,
) -> None:
    env = clean_env()  # nothing configured: ./.orbitpay under the working directory
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(["up", "--port", str(port)], env, tmp_path)
    try:
        wait_http(f"{base}/health", timeout=120, proc=proc)

        def caught_up() -> bool:
            body = httpx.get(f"{base}/health", timeout=5).json()
            return (
                body["indexer"]["last_ledger"] is not None and body["indexer"]["lag_ledgers"] == 0
            )

        wait_for(caught_up)
        health = httpx.get(f"{base}/health", timeout=5)
        assert health.status_code == 200
        body = health.json()
        assert body["status"] == "ok", body
        assert body["database"]["status"] == "ok" and body["rpc"]["status"] == "ok"
        # The live demo follows the wall clock, so lag in seconds is meaningful.
        assert body["indexer"]["lag_seconds"] < 60

        orgs = httpx.get(f"{base}/api/organizations", timeout=5).json()["items"]
        assert len(orgs) == 1
        assert all(orgs[0]["contracts"][kind] for kind in ("treasury", "payroll", "vesting"))
        streams = httpx.get(f"{base}/api/streams", params={"limit": 200}, timeout=5).json()
        assert len(streams["items"]) >= 10
        first_ledger = body["indexer"]["last_ledger"]

        # New ledgers keep arriving and being indexed (5 s ledger interval).
        wait_for(
            lambda: (
                httpx.get(f"{base}/health", timeout=5).json()["indexer"]["last_ledger"]
                > first_ledger
            ),
            timeout=30,
        )
    finally:
        out = stop(proc)
    assert "OrbitPay API: http://" in out
    assert (tmp_path / ".orbitpay" / "pgdata").is_dir()

    # Restart: the same data is there before the indexer has done anything new.
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(["api", "--port", str(port)], env, tmp_path)
    try:
        wait_http(f"{base}/health", timeout=60, proc=proc)
        again = httpx.get(f"{base}/api/streams", params={"limit": 200}, timeout=5).json()
        assert {s["stream_id"] for s in again["items"]} >= {
            s["stream_id"] for s in streams["items"]
        }
        assert (
            httpx.get(f"{base}/api/organizations", timeout=5).json()["items"][0]["name"]
            == (orgs[0]["name"])
        )
    finally:
        stop(proc)


def test_up_exits_2_with_one_line_on_a_passphrase_mismatch(tmp_path: Path) -> None:
    env = clean_env(ORBITPAY_NETWORK_PASSPHRASE="Public Global Stellar Network ; September 2015")
    proc = start(["up", "--port", str(free_port())], env, tmp_path)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2, out
    plain = [line for line in out.splitlines() if line.startswith("invalid configuration:")]
    assert len(plain) == 1 and "ORBITPAY_NETWORK_PASSPHRASE" in plain[0], out
    assert "Traceback" not in out
