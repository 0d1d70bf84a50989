"""Short commands print their own output only: no alembic chatter, no raw warnings.

``orbitpay org list`` once printed alembic's plugin lines and platformdirs'
``RuntimeDirWarning`` before its table. These run the real commands as
processes, with ``XDG_RUNTIME_DIR`` unset as in a container or CI (the
condition that made platformdirs warn).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import create_database
from tests.e2e.helpers import clean_env, run

NOISE = ("setup plugin", "Context impl", "Will assume", "Warning", "warnings.warn")


def quiet_env(**overrides: str) -> dict[str, str]:
    env = clean_env(**overrides)
    env.pop("XDG_RUNTIME_DIR", None)
    env.pop("PYTHONWARNINGS", None)
    return env


def test_org_list_prints_only_its_table(database_url: str, tmp_path: Path) -> None:
    env = quiet_env(ORBITPAY_DATABASE_URL=database_url)
    listed = run(["org", "list"], env, tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr == ""
    assert "name" in listed.stdout and "governance" in listed.stdout
    as_json = run(["org", "list", "--json"], env, tmp_path)
    assert as_json.returncode == 0 and as_json.stderr == ""
    assert isinstance(json.loads(as_json.stdout), list)


def test_migrate_keeps_what_changed_and_drops_the_preamble(
    databases: list[str], tmp_path: Path
) -> None:
    url = create_database("orbitpay_quiet")
    databases.append(url)
    migrated = run(["migrate"], quiet_env(ORBITPAY_DATABASE_URL=url), tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert "database at revision" in migrated.stdout
    assert not [word for word in NOISE if word in migrated.stderr], migrated.stderr
    lines = [json.loads(line) for line in migrated.stderr.splitlines()]
    assert lines and all(line["logger"] == "alembic.runtime.migration" for line in lines)
    assert all(line["event"].startswith("Running upgrade") for line in lines), lines


def test_embedded_database_commands_print_no_runtime_dir_warning(tmp_path: Path) -> None:
    env = quiet_env(ORBITPAY_DATA_DIR=str(tmp_path / "data"))
    migrated = run(["migrate"], env, tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    listed = run(["org", "list", "--json"], env, tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    # A short command on the embedded database prints only its own output: the server's
    # start and stop are debug lines there (a service logs them at info).
    assert listed.stderr == ""
    assert not [word for word in NOISE if word in migrated.stderr], migrated.stderr
    # What migrate leaves on stderr is what changed (migrations applied), nothing else.
    for line in migrated.stderr.splitlines():
        assert json.loads(line)["logger"] == "alembic.runtime.migration", line
