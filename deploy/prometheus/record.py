"""Record promtool unit tests for alerts.yml from a live stack: healthy, then stalled.

    .venv/bin/python deploy/prometheus/record.py            # rewrites deploy/prometheus/tests/
    promtool test rules deploy/prometheus/tests/*.yml

Starts, on a fresh PostgreSQL database (created and dropped; admin connection
``ORBITPAY_TEST_ADMIN_DATABASE_URL``, default local ``postgres``):

- ``orbitpay devnet`` (the demo scenario, a ledger every 5 s),
- ``orbitpay org import-devnet``, then ``orbitpay index`` with its metrics
  listener (job ``orbitpay-indexer``) and ``orbitpay api`` (job ``orbitpay-api``),

waits for the indexer to catch up, then scrapes both ``/metrics`` every
``--interval`` seconds as Prometheus would (with light API traffic between
scrapes), ``--healthy`` seconds long; then freezes the RPC (SIGSTOP to the
devnet: connections open, nothing answers, no ledger closes) and goes on
scraping for ``--stalled`` seconds. It writes two promtool test files:

- ``healthy.yml``: the healthy scrapes only. Every alert of alerts.yml is
  expected silent at several times, and each alert's expression (its condition,
  before ``for``) is expected to select nothing at the end;
- ``stalled.yml``: healthy then stalled scrapes. Nothing fires at the end of the
  healthy part; at the end the alerts of :data:`STALLED_FIRING` fire, and
  nothing else.

What is recorded: the series of every metric alerts.yml reads (plus ``up``,
which Prometheus adds per scrape: 1 when the scrape answered), labelled with
``job`` and ``instance``. Sample ``i`` of a series is the scrape at
``t0 + i * interval``; promtool's clock starts at 0, so values of
``*_timestamp_seconds`` metrics are rebased by ``t0`` (``time() - x`` reads
the same age as it did live). Nothing is invented: a series missing at a
scrape is ``_`` (no sample).

The e2e test tests/e2e/test_alerts_recorded.py runs the same recording (as a
library: :func:`record`) and ``promtool test rules`` on its output.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from orbitpay.observability.promql import metric_names

HERE = Path(__file__).resolve().parent
RULES = HERE / "alerts.yml"
ORBITPAY = [sys.executable, "-m", "orbitpay.cli"]
INDEXER_JOB, API_JOB = "orbitpay-indexer", "orbitpay-api"

# The alerts a frozen RPC must fire, with the labels each carries (besides alertname).
STALLED_FIRING: dict[str, list[dict[str, str]]] = {
    "OrbitPayIndexerStalled": [{"severity": "critical", "job": INDEXER_JOB}],
    "OrbitPayIndexerLagging": [{"severity": "warning", "job": INDEXER_JOB}],
    "OrbitPayIndexerDown": [{"severity": "critical", "job": INDEXER_JOB}],
    "OrbitPayRpcErrors": [{"severity": "warning", "job": INDEXER_JOB}],
}
# The longest "for" + threshold among STALLED_FIRING is 4 minutes (IndexerLagging:
# > 120 s for 2 m, IndexerStalled: > 180 s for 1 m): a stall of 5.5 minutes leaves margin.
DEFAULT_STALLED = 330.0
DEFAULT_HEALTHY = 180.0
DEFAULT_INTERVAL = 15.0


# ── rules ────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    labels: dict[str, str]
    annotations: dict[str, str]


def alerts(rules: Path = RULES) -> list[Alert]:
    doc = yaml.safe_load(rules.read_text())
    return [
        Alert(
            r["alert"],
            str(r["expr"]),
            {k: str(v) for k, v in (r.get("labels") or {}).items()},
            {k: str(v) for k, v in (r.get("annotations") or {}).items()},
        )
        for group in doc["groups"]
        for r in group["rules"]
        if "alert" in r
    ]


def recorded_names(rules: Path = RULES) -> set[str]:
    """The metric names the rules read: what is worth recording."""
    names: set[str] = set()
    for alert in alerts(rules):
        names |= metric_names(alert.expr)
    return names


# ── recording ────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Target:
    job: str
    instance: str
    url: str


@dataclass
class Recording:
    """Scrapes as promtool input series: series text -> {step: value}."""

    interval: float
    keep: set[str]
    t0: float = 0.0
    steps: int = 0
    series: dict[str, dict[int, float]] = field(default_factory=dict)
    marks: dict[str, int] = field(default_factory=dict)  # phase name -> first step

    def scrape(self, targets: list[Target], client: httpx.Client) -> None:
        """One scrape of every target, as step ``self.steps``."""
        if self.steps == 0:
            self.t0 = time.time()
        step = self.steps
        for target in targets:
            base = {"job": target.job, "instance": target.instance}
            try:
                response = client.get(target.url, timeout=min(10.0, self.interval))
                response.raise_for_status()
                text = response.text
            except httpx.HTTPError:
                self._add("up", base, step, 0.0)
                continue
            self._add("up", base, step, 1.0)
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name not in self.keep or math.isnan(sample.value):
                        continue
                    value = sample.value
                    if sample.name.endswith("_timestamp_seconds"):
                        value -= self.t0  # promtool's clock starts at 0
                    self._add(sample.name, {**sample.labels, **base}, step, value)
        self.steps += 1

    def _add(self, name: str, labels: dict[str, str], step: int, value: float) -> None:
        inner = ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items()))
        self.series.setdefault(f"{name}{{{inner}}}", {})[step] = value

    def input_series(self, upto: int | None = None) -> list[dict[str, str]]:
        """promtool ``input_series`` for steps ``0 .. upto - 1`` (all by default)."""
        end = self.steps if upto is None else upto
        out = []
        for key in sorted(self.series):
            values = self.series[key]
            if not any(s < end for s in values):
                continue
            text = " ".join(_number(values[s]) if s in values else "_" for s in range(end))
            out.append({"series": key, "values": text})
        return out


def from_tests(out_dir: Path) -> Recording:
    """The recording a previous run wrote (stalled.yml holds every step, healthy.yml the
    healthy ones): regenerate the tests after a change of the rules without recording again
    (as long as the rules read no metric the recording lacks)."""
    stalled = yaml.safe_load((out_dir / "stalled.yml").read_text())["tests"][0]
    healthy = yaml.safe_load((out_dir / "healthy.yml").read_text())["tests"][0]
    interval = float(str(stalled["interval"]).removesuffix("s"))
    recording = Recording(interval, set())
    for item in stalled["input_series"]:
        values = str(item["values"]).split()
        recording.steps = max(recording.steps, len(values))
        recording.series[item["series"]] = {i: float(v) for i, v in enumerate(values) if v != "_"}
    recording.marks["healthy"] = 0
    recording.marks["stalled"] = len(str(healthy["input_series"][0]["values"]).split())
    return recording


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(round(value, 6))


# ── the test files ───────────────────────────────────────────────────────────────


def _duration(seconds: float) -> str:
    return f"{round(seconds)}s"


def _expect(
    rules: list[Alert], at: float, firing: dict[str, list[dict[str, str]]]
) -> list[dict[str, Any]]:
    out = []
    for alert in rules:
        exp = [
            {"exp_labels": labels, "exp_annotations": alert.annotations}
            for labels in firing.get(alert.name, [])
        ]
        out.append({"eval_time": _duration(at), "alertname": alert.name, "exp_alerts": exp})
    return out


def write_tests(
    recording: Recording, out_dir: Path, rules: Path = RULES, rule_file: str | None = None
) -> list[Path]:
    """Write healthy.yml and stalled.yml; ``rule_file``: how they name alerts.yml
    (default: relative to ``out_dir``, as promtool resolves it)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    listed = alerts(rules)
    rule_ref = rule_file or os.path.relpath(rules, out_dir)
    step = recording.interval
    stall = recording.marks["stalled"]
    healthy_end = (stall - 1) * step  # the last healthy scrape
    end = (recording.steps - 1) * step
    header = (
        "# Recorded by deploy/prometheus/record.py from a live stack (devnet, orbitpay index,\n"
        "# orbitpay api): regenerate, do not edit.\n"
        "# promtool test rules deploy/prometheus/tests/*.yml\n"
    )
    common = {"rule_files": [rule_ref], "evaluation_interval": _duration(step)}

    # Healthy: silent all along (from the first minute on), and no condition holds at the end.
    checks = [t * step for t in range(int(60 // step), stall)]
    healthy_alerts = [
        case for at in checks[:: max(1, len(checks) // 4)] for case in _expect(listed, at, {})
    ]
    healthy_alerts += _expect(listed, healthy_end, {})
    conditions = [
        {"expr": alert.expr.strip(), "eval_time": _duration(healthy_end), "exp_samples": []}
        for alert in listed
    ]
    healthy = {
        **common,
        "tests": [
            {
                "name": "healthy stack: no alert fires, no alert condition holds",
                "interval": _duration(step),
                "input_series": recording.input_series(stall),
                "alert_rule_test": healthy_alerts,
                "promql_expr_test": conditions,
            }
        ],
    }
    stalled = {
        **common,
        "tests": [
            {
                "name": "RPC frozen: the stall, lag, down and RPC error alerts fire, nothing else",
                "interval": _duration(step),
                "input_series": recording.input_series(),
                "alert_rule_test": _expect(listed, healthy_end, {})
                + _expect(listed, end, STALLED_FIRING),
            }
        ],
    }
    paths = []
    for name, doc in (("healthy.yml", healthy), ("stalled.yml", stalled)):
        path = out_dir / name
        path.write_text(header + yaml.safe_dump(doc, sort_keys=False, width=1000))
        paths.append(path)
    return paths


# ── the live stack ───────────────────────────────────────────────────────────────


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORBITPAY_", "PROMETHEUS_"))}
    env["ORBITPAY_LOG_FORMAT"] = "json"
    env.update(overrides)
    return env


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with suppress(httpx.HTTPError):
            if predicate():
                return
        time.sleep(0.5)
    raise RuntimeError(f"{what}: not reached in {timeout:.0f} s")


def _gauge(client: httpx.Client, url: str, name: str) -> float | None:
    for family in text_string_to_metric_families(client.get(url, timeout=5).text):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    return None


@dataclass
class Stack:
    devnet: subprocess.Popen[bytes]
    targets: list[Target]
    api_url: str


@contextmanager
def live_stack(database_url: str, workdir: Path, log: Callable[[str], None]) -> Iterator[Stack]:
    """Devnet, indexer and API as separate processes on ``database_url`` (migrated here)."""
    devnet_port, metrics_port, api_port = free_port(), free_port(), free_port()
    rpc = f"http://127.0.0.1:{devnet_port}"
    env = _env(
        ORBITPAY_DATABASE_URL=database_url,
        ORBITPAY_RPC_URL=rpc,
        # A frozen RPC is given up on after ~20 s (4 attempts of 5 s), not ~2.5 minutes.
        ORBITPAY_RPC_TIMEOUT="5",
        ORBITPAY_RPC_MAX_RETRIES="3",
        ORBITPAY_CURSOR_SECRET="record-alerts-cursor-secret-0123456789",
    )
    procs: list[subprocess.Popen[bytes]] = []
    logs = [open(workdir / f"{n}.log", "wb") for n in ("devnet", "indexer", "api")]

    def start(args: list[str], out: Any, **extra: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            ORBITPAY + args, env={**env, **extra}, cwd=workdir, stdout=out, stderr=subprocess.STDOUT
        )
        procs.append(proc)
        return proc

    try:
        subprocess.run(
            [*ORBITPAY, "migrate"], env=env, cwd=workdir, check=True, capture_output=True
        )
        devnet = start(
            ["devnet", "--port", str(devnet_port), "--scenario", "demo", "--ledger-interval", "5"],
            logs[0],
        )
        client = httpx.Client()
        _wait(
            lambda: (
                client.post(rpc, json={"jsonrpc": "2.0", "id": 1, "method": "getHealth"}).is_success
            ),
            180,
            "devnet answering",
        )
        subprocess.run(
            [*ORBITPAY, "org", "import-devnet", rpc],
            env=env,
            cwd=workdir,
            check=True,
            capture_output=True,
        )
        start(["index"], logs[1], ORBITPAY_METRICS_PORT=str(metrics_port))
        start(["api", "--port", str(api_port)], logs[2])
        indexer = Target(
            INDEXER_JOB, f"127.0.0.1:{metrics_port}", f"http://127.0.0.1:{metrics_port}/metrics"
        )
        api = Target(API_JOB, f"127.0.0.1:{api_port}", f"http://127.0.0.1:{api_port}/metrics")
        log("waiting for the indexer to catch up")
        _wait(
            lambda: (_gauge(client, indexer.url, "orbitpay_indexer_lag_seconds") or 1e9) < 30,
            600,
            "indexer caught up",
        )
        _wait(lambda: client.get(api.url, timeout=5).is_success, 60, "API answering")
        yield Stack(devnet, [indexer, api], f"http://127.0.0.1:{api_port}")
    finally:
        for proc in reversed(procs):
            with suppress(ProcessLookupError):
                proc.send_signal(signal.SIGCONT)
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for f in logs:
            f.close()


def record(
    database_url: str,
    workdir: Path,
    *,
    healthy: float = DEFAULT_HEALTHY,
    stalled: float = DEFAULT_STALLED,
    interval: float = DEFAULT_INTERVAL,
    rules: Path = RULES,
    log: Callable[[str], None] = print,
) -> Recording:
    """Record a healthy then stalled (RPC frozen) stack on ``database_url``."""
    recording = Recording(interval, recorded_names(rules) | {"up"})
    with live_stack(database_url, workdir, log) as stack, httpx.Client() as client:
        traffic = [f"{stack.api_url}/health", f"{stack.api_url}/api/organizations"]

        def run_phase(name: str, seconds: float) -> None:
            recording.marks[name] = recording.steps
            steps = max(1, round(seconds / interval))
            log(f"{name}: {steps} scrapes, {interval:.0f} s apart")
            for _ in range(steps):
                due = recording.t0 + recording.steps * interval
                if recording.steps:
                    time.sleep(max(0.0, due - time.time()))
                recording.scrape(stack.targets, client)
                for url in traffic:  # light traffic, so the API's request series exist
                    with suppress(httpx.HTTPError):
                        client.get(url, timeout=5)

        run_phase("healthy", healthy)
        stack.devnet.send_signal(signal.SIGSTOP)  # the RPC freezes: sockets open, no answer
        try:
            run_phase("stalled", stalled)
        finally:
            stack.devnet.send_signal(signal.SIGCONT)
    return recording


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "tests")
    parser.add_argument("--healthy", type=float, default=DEFAULT_HEALTHY)
    parser.add_argument("--stalled", type=float, default=DEFAULT_STALLED)
    parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL)
    parser.add_argument("--workdir", type=Path, default=None, help="Logs of the stack's processes.")
    parser.add_argument(
        "--rewrite",
        action="store_true",
        help="Rewrite the tests in --out from the series they hold (after a rule change).",
    )
    args = parser.parse_args()
    if args.rewrite:
        recording = from_tests(args.out)
        missing = recorded_names() - {k.split("{")[0] for k in recording.series}
        if missing:
            sys.exit(f"the recording lacks {sorted(missing)}: record again")
        for path in write_tests(recording, args.out):
            print(f"rewrote {path}")
        return
    from orbitpay.db.admin import create_database, drop_database

    workdir = (
        args.workdir or Path(os.environ.get("TMPDIR", "/tmp")) / f"orbitpay-record-{os.getpid()}"
    )
    workdir.mkdir(parents=True, exist_ok=True)
    url = create_database("orbitpay_alerts")
    try:
        recording = record(
            url, workdir, healthy=args.healthy, stalled=args.stalled, interval=args.interval
        )
    finally:
        drop_database(url)
    for path in write_tests(recording, args.out):
        print(f"wrote {path} ({recording.steps} scrapes; logs in {workdir})")


if __name__ == "__main__":
    main()
