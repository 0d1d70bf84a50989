"""The zero-configuration path: embedded PostgreSQL under ORBITPAY_DATA_DIR.

Runs the real ``orbitpay`` commands as processes, as a user on a fresh
machine would, and checks the data survives a restart of the service.
"""

from __future__ import annotations

from pathlib import Path

from tests.e2e.helpers import clean_env, free_port, run, start, stop, wait_http

PAYROLL = "CA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQGAXE"


def test_api_on_embedded_postgres_survives_restart(tmp_path: Path) -> None:
    env = clean_env(ORBITPAY_DATA_DIR=str(tmp_path / "data"))

    migrated = run(["migrate"], env, tmp_path)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert "database at revision" in migrated.stdout

    added = run(["org", "add", "acme", "--payroll", PAYROLL], env, tmp_path)
    assert added.returncode == 0, added.stdout + added.stderr

    for _ in range(2):  # the second round is the restart
        port = free_port()
        proc = start(["api", "--port", str(port)], env, tmp_path)
        try:
            health = wait_http(f"http://127.0.0.1:{port}/health", proc=proc)
            assert health.status_code == 200, health.text
            assert health.json()["database"]["status"] == "ok"
        finally:
            out = stop(proc)
        assert "embedded_postgres_stopped" in out

        listed = run(["org", "list"], env, tmp_path)
        assert listed.returncode == 0, listed.stderr
        assert "acme" in listed.stdout and PAYROLL[:10] in listed.stdout

    refused = run(["org", "add", "other", "--vesting", PAYROLL], env, tmp_path)
    assert refused.returncode == 2
    assert "already registered" in refused.stderr
