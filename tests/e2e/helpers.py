"""Process helpers for end-to-end tests: free ports, waiting for HTTP or a condition, clean env."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
ORBITPAY = [sys.executable, "-m", "orbitpay.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**overrides: str) -> dict[str, str]:
    """The current environment without ORBITPAY_* settings, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBITPAY_")}
    env["ORBITPAY_LOG_FORMAT"] = "json"
    env.update(overrides)
    return env


def wait_http(
    url: str, timeout: float = 60.0, proc: subprocess.Popen[str] | None = None
) -> httpx.Response:
    """Poll ``url`` until it answers (any status), or fail with the process's output."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"process exited with {proc.returncode}:\n{out[-4000:]}")
        try:
            return httpx.get(url, timeout=5)
        except httpx.HTTPError as exc:
            last = exc
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {timeout}s: {last}")


def wait_for(predicate: Callable[[], bool], timeout: float = 90) -> None:
    """Poll ``predicate`` every half second until it holds, or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError("condition not met in time")


def run(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ORBITPAY + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ORBITPAY + args,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(proc: subprocess.Popen[str], timeout: float = 30) -> str:
    """SIGTERM, wait for a clean exit, and return the output."""
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"did not stop on SIGTERM:\n{out[-4000:]}") from None
    return out
