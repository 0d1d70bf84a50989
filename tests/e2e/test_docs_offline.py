"""``/docs`` and ``/redoc`` of a running ``orbitpay api`` work with no internet access.

Headless Chromium (Debian's ``chromium``) loads each page with every host but
loopback cut off: names resolve to nothing (``--host-resolver-rules``) and any
non-loopback connection goes to a proxy port nobody listens on. The DOM is
dumped after the page's scripts ran (``--virtual-time-budget``) and must list
every operation of the API's ``/openapi.json``: Swagger UI renders an
``opblock`` per operation (``data-path``), ReDoc a section per operation id.

A control shows the cut-off is real: FastAPI's stock pages (scripts from a CDN)
render no operation at all under the same flags.

Chromium missing: skipped on a laptop, a failure under ``CI=true`` (``.ci/run``
installs it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import skip_or_fail
from tests.e2e.helpers import clean_env, free_port, start, stop, wait_http
from tests.integration.api.live_server import serve

# Everything but loopback is unreachable: no name resolves, and a literal address
# would go through a proxy on the discard port, where nothing listens.
OFFLINE_FLAGS = (
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.1",
)


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        skip_or_fail("chromium is not installed (apt-get install chromium)")
    return found


def rendered_dom(chromium: str, url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran, loaded with the network cut off."""
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            *OFFLINE_FLAGS,
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def operations(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """``(path, operationId)`` of every operation in an OpenAPI document."""
    found = [
        (path, op["operationId"])
        for path, methods in schema["paths"].items()
        for op in methods.values()
        if isinstance(op, dict) and "operationId" in op
    ]
    assert found, "the schema lists no operations"
    return found


def missing_from_swagger(dom: str, ops: list[tuple[str, str]]) -> list[str]:
    return sorted({path for path, _ in ops if f'data-path="{path}"' not in dom})


def missing_from_redoc(dom: str, ops: list[tuple[str, str]]) -> list[str]:
    return sorted({oid for _, oid in ops if f'data-section-id="operation/{oid}"' not in dom})


@pytest.fixture(scope="module")
def running_api(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``orbitpay api`` on the run's database; yields (base URL, process)."""
    port = free_port()
    env = clean_env(
        ORBITPAY_DATABASE_URL=database_url,
        ORBITPAY_CURSOR_SECRET="docs-offline-test-cursor-secret",
        ORBITPAY_RATE_LIMIT="1000/minute",
    )
    proc = start(["api", "--port", str(port)], env, tmp_path_factory.mktemp("api"))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/health", timeout=60, proc=proc)
        yield base, proc
    finally:
        if proc.poll() is None:
            stop(proc)


def test_docs_and_redoc_list_every_operation_without_network(
    chromium: str, running_api: Any, tmp_path: Path
) -> None:
    base, proc = running_api
    ops = operations(httpx.get(f"{base}/openapi.json", timeout=10).json())

    swagger = rendered_dom(chromium, f"{base}/docs", tmp_path / "swagger")
    assert "swagger-ui" in swagger
    assert missing_from_swagger(swagger, ops) == []
    redoc = rendered_dom(chromium, f"{base}/redoc", tmp_path / "redoc")
    assert missing_from_redoc(redoc, ops) == []

    # Nothing on either page points outside the server.
    for page in ("/docs", "/redoc"):
        html = httpx.get(f"{base}{page}", timeout=10).text
        assert "http://" not in html and "https://" not in html, html

    # Served by the real server: one access line per request, each with its request id,
    # and no second line from uvicorn's own access log.
    out = stop(proc)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("event") == "http_request"]
    docs = [line for line in access if line["route"] in ("/docs", "/redoc")]
    assert len(docs) >= 4, access  # chromium's two loads and the two plain GETs
    assert all(len(line["request_id"]) == 32 for line in docs), docs
    assert len({line["request_id"] for line in access}) == len(access)
    assert any(line["route"] == "/static/docs/swagger-ui-bundle.js" for line in access), access
    assert not [line for line in lines if line.get("logger") == "uvicorn.access"]
    assert '"GET /docs HTTP/1.1"' not in out


def test_control_cdn_pages_stay_blank_with_the_network_cut_off(
    chromium: str, tmp_path: Path
) -> None:
    """FastAPI's stock /docs and /redoc (CDN scripts) show nothing under the same flags."""
    stock = FastAPI(title="stock")

    @stock.get("/ping")
    async def ping() -> dict[str, str]:
        return {"ok": "yes"}

    with serve(stock) as base:
        ops = operations(httpx.get(f"{base}/openapi.json", timeout=10).json())
        swagger = rendered_dom(chromium, f"{base}/docs", tmp_path / "swagger")
        redoc = rendered_dom(chromium, f"{base}/redoc", tmp_path / "redoc")
    assert "cdn.jsdelivr.net" in swagger  # the page did load; its scripts could not
    assert missing_from_swagger(swagger, ops) == ["/ping"]
    assert missing_from_redoc(redoc, ops) == ["ping_ping_get"]
