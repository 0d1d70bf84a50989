"""Reading docker-compose.yml as Docker Compose does, for the deploy checks and the e2e run.

There is no Docker engine here, so the tests interpret the file themselves: YAML
(merge keys and anchors, as PyYAML resolves them), then Compose's variable
interpolation (``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``,
``${VAR?error}``, ``$$`` for a literal ``$``) against an environment, the role ``.env``
plays for ``docker compose``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
# The image every OrbitPay role runs (built from deploy/Dockerfile).
ORBITPAY_IMAGE = "orbitpay:latest"

_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})"
)


class MissingVariable(ValueError):
    """A ``${VAR:?message}`` whose variable is unset (compose refuses the file)."""


def raw() -> dict[str, Any]:
    """The file as YAML, before interpolation."""
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def variables(value: str) -> list[tuple[str, str | None]]:
    """The ``(name, operator)`` of each ``${...}`` reference in ``value``."""
    return [
        (m.group("name"), m.group("op")) for m in _VAR.finditer(value) if m.group("escaped") is None
    ]


def interpolate_text(value: str, env: Mapping[str, str]) -> str:
    """One string as compose interpolates it against ``env``."""

    def one(m: re.Match[str]) -> str:
        if m.group("escaped") is not None:
            return "$"
        name, op, arg = m.group("name"), m.group("op"), m.group("arg") or ""
        found = env.get(name)
        unset_or_empty = not found
        if op == ":-":
            return arg if unset_or_empty else str(found)
        if op == "-":
            return arg if found is None else found
        if (op == ":?" and unset_or_empty) or (op == "?" and found is None):
            raise MissingVariable(f"{name}: {arg}")
        return found or ""

    return _VAR.sub(one, value)


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    """Every string of a loaded YAML tree, interpolated (keys are left alone, as compose)."""
    if isinstance(node, str):
        return interpolate_text(node, env)
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    return node


def services(env: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """The services, interpolated against ``env`` (None: left as written)."""
    found = raw()["services"]
    return found if env is None else interpolate(found, env)


def orbitpay_services(found: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The services that run the OrbitPay image."""
    return {name: svc for name, svc in found.items() if svc.get("image") == ORBITPAY_IMAGE}


def command_of(service: Mapping[str, Any]) -> list[str]:
    command = service.get("command") or []
    assert isinstance(command, list), "commands are lists (exec form), never shell strings"
    return [str(part) for part in command]


def healthcheck_argv(service: Mapping[str, Any]) -> list[str] | None:
    """The health check's argv (``CMD`` form), or None for no check or a shell form."""
    test = (service.get("healthcheck") or {}).get("test")
    if not isinstance(test, list) or not test or test[0] != "CMD":
        return None
    return [str(part) for part in test[1:]]
