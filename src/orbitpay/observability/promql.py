"""The metric names and ``job`` matchers a PromQL expression uses (no full parser).

Alert rules and dashboard queries refer to metrics by name; a renamed metric
or a rule reading a series no process exports fails silently in Prometheus (an
empty result never alerts). The tests compare what these functions extract
from ``deploy/prometheus/alerts.yml`` and the Grafana dashboards with a live
``/metrics`` of each role. Only what those files use needs to be understood:
selectors, functions, aggregations with ``by``/``without``, binary operators
with ``on``/``ignoring``/``group_*``, ranges, ``offset``, strings and numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "bool",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "inf",
        "nan",
    }
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_RANGE = re.compile(r"\[[^\]]*\]")
# A modifier's label list: ``by (a, b)``, ``on(a)``, ``group_left(x)``...
_LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_MATCHERS = re.compile(r"\{[^}]*\}")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_NUMBER_CHARS = frozenset("0123456789.")
_JOB = re.compile(r'\bjob\s*(=~|=|!=|!~)\s*"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True, slots=True)
class Selector:
    """One vector selector: the metric name and its ``job`` matcher (``None``: none)."""

    name: str
    job_op: str | None
    job_value: str | None

    def job_matches(self, job: str) -> bool:
        """Whether a series of ``job`` can match this selector's ``job`` matcher."""
        if self.job_op is None or self.job_value is None:
            return True
        if self.job_op in ("=", "!="):
            return (job == self.job_value) == (self.job_op == "=")
        matched = re.fullmatch(self.job_value, job) is not None
        return matched == (self.job_op == "=~")


def selectors(expr: str) -> list[Selector]:
    """The vector selectors of ``expr``, in order (a name with its own ``{...}``)."""
    found: list[Selector] = []
    text = _RANGE.sub(" ", expr)
    text = _LABEL_LIST.sub(" ", _blank_strings_outside_matchers(text))
    pos = 0
    while pos < len(text):
        match = _IDENT.search(text, pos)
        if match is None:
            break
        name, end = match.group(), match.end()
        pos = end
        if name.lower() in _KEYWORDS:
            continue
        if match.start() > 0 and text[match.start() - 1] in _NUMBER_CHARS:
            continue  # part of a number or a duration (1e9, 0.5, 5m)
        rest = text[end:].lstrip()
        if rest.startswith("("):
            continue  # a function or an aggregation
        matchers = ""
        if rest.startswith("{"):
            block = _MATCHERS.match(rest)
            if block is not None:
                matchers = block.group()
                pos = end + (len(text[end:]) - len(rest)) + block.end()
        job = _JOB.search(matchers)
        found.append(Selector(name, job.group(1) if job else None, job.group(2) if job else None))
    # A bare ``{job="x"}`` (no name) selects nothing this module needs.
    return found


def metric_names(expr: str) -> set[str]:
    """The metric names ``expr`` reads."""
    return {s.name for s in selectors(expr)}


def _blank_strings_outside_matchers(text: str) -> str:
    """Strings outside ``{...}`` (``label_replace`` arguments...) as blanks; matchers kept."""
    out: list[str] = []
    depth = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(0, depth - 1)
        elif ch in "\"'`" and depth == 0:
            match = _STRING.match(text, i)
            if match is not None:
                out.append(" " * len(match.group()))
                i = match.end()
                continue
        out.append(ch)
        i += 1
    return "".join(out)


__all__ = ["Selector", "metric_names", "selectors"]
