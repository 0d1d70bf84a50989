"""docker-compose.yml against the settings, the CLI and itself (there is no Docker engine here).

What the file must keep (issue 14): every value it gives an OrbitPay setting can be
overridden from ``.env``; every environment variable it passes is a real setting;
every dependency is waited for in its ready state (healthy, or completed for one-shot
jobs); every long-running service has a health check, the indexer's one that fails
when the indexer is stalled; every command it runs is a real ``orbitpay`` command.
"""

from __future__ import annotations

import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from tests.unit.deploy.compose import (
    COMPOSE_FILE,
    DOCKERFILE,
    REPO,
    MissingVariable,
    command_of,
    healthcheck_argv,
    interpolate,
    orbitpay_services,
    raw,
    services,
    variables,
)

from orbitpay.config import ENV_PREFIX, Settings

SETTINGS = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
# Values compose fixes on purpose, with the reason.
FIXED = {
    # A container must listen on its own network namespace's interfaces: the 127.0.0.1
    # of a `make run` .env would make the API unreachable from the published port.
    "ORBITPAY_API_HOST": "0.0.0.0",
}
# Variables compose reads that are not OrbitPay settings (they configure other images).
COMPOSE_ONLY = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}
ORBITPAY_CLI = Path(sys.executable).with_name("orbitpay")
# The one setting the stack cannot start without.
REQUIRED = {"ORBITPAY_CURSOR_SECRET": "a-cursor-secret-of-32-characters"}


@pytest.fixture(scope="module")
def written() -> dict[str, dict[str, Any]]:
    return services()


@pytest.fixture(scope="module")
def resolved() -> dict[str, dict[str, Any]]:
    """The services as ``docker compose`` resolves them with only the required .env."""
    return services(REQUIRED)


def _all_strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [s for item in node for s in _all_strings(item)]
    if isinstance(node, dict):
        return [s for value in node.values() for s in _all_strings(value)]
    return []


def test_orbitpay_services_pass_only_real_settings(written: dict[str, dict[str, Any]]) -> None:
    roles = orbitpay_services(written)
    assert set(roles) >= {"devnet", "migrate", "register-devnet", "indexer", "api"}
    for name, svc in roles.items():
        unknown = set(svc.get("environment") or {}) - SETTINGS
        assert not unknown, f"{name} passes variables that are no setting: {sorted(unknown)}"


def test_every_variable_compose_reads_is_a_setting_or_documented() -> None:
    referenced = {name for text in _all_strings(raw()) for name, _op in variables(text)}
    orbitpay = {name for name in referenced if name.startswith(ENV_PREFIX)}
    assert orbitpay <= SETTINGS, sorted(orbitpay - SETTINGS)
    assert referenced - orbitpay <= COMPOSE_ONLY, sorted(referenced - orbitpay - COMPOSE_ONLY)
    example = (REPO / ".env.example").read_text()
    for name in COMPOSE_ONLY:
        assert re.search(rf"^#?{name}=", example, re.M), f"{name} is not in .env.example"


def test_every_setting_compose_gives_is_overridable_from_env(
    written: dict[str, dict[str, Any]],
) -> None:
    for name, svc in orbitpay_services(written).items():
        for key, value in (svc.get("environment") or {}).items():
            if key in FIXED:
                assert str(value) == FIXED[key], (name, key, value)
                continue
            text = str(value)
            refs = variables(text)
            # The whole value is ${KEY:-default} (or ${KEY:?message}) for its own name.
            assert refs and refs[0][0] == key and text.startswith("${") and text.endswith("}"), (
                f"{name}: {key}={text!r} cannot be overridden from .env (use ${{{key}:-...}})"
            )
            assert refs[0][1] in (":-", ":?"), (name, key, text)


def test_env_values_win_over_the_defaults(written: dict[str, dict[str, Any]]) -> None:
    """Resolving with a value for every setting compose names yields those values."""
    keys = {
        key
        for svc in orbitpay_services(written).values()
        for key in (svc.get("environment") or {})
        if key not in FIXED
    }
    env = {key: f"from-dotenv-{key.lower()}" for key in keys}
    for name, svc in orbitpay_services(services(env)).items():
        for key, value in (svc.get("environment") or {}).items():
            if key not in FIXED:
                assert value == env[key], (name, key, value)
    assert "ORBITPAY_DATABASE_URL" in keys and "ORBITPAY_REDIS_URL" in keys
    # Without them, the defaults name the compose services.
    defaults = orbitpay_services(services(REQUIRED))["api"]["environment"]
    assert defaults["ORBITPAY_DATABASE_URL"].startswith("postgresql://")
    assert "@postgres:5432/" in defaults["ORBITPAY_DATABASE_URL"]
    assert defaults["ORBITPAY_REDIS_URL"] == "redis://redis:6379/0"


def test_the_cursor_secret_is_required() -> None:
    with pytest.raises(MissingVariable, match="ORBITPAY_CURSOR_SECRET"):
        services({})


def test_every_dependency_is_waited_for_in_its_ready_state(
    resolved: dict[str, dict[str, Any]],
) -> None:
    for name, svc in resolved.items():
        depends = svc.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on must name a condition per service"
        for target, spec in depends.items():
            assert target in resolved, (name, target)
            one_shot = resolved[target].get("restart") == "no"
            want = "service_completed_successfully" if one_shot else "service_healthy"
            assert (spec or {}).get("condition") == want, (name, target, spec)
            if want == "service_healthy":
                assert resolved[target].get("healthcheck"), f"{target} has no health check"


def test_each_role_waits_for_what_it_uses(resolved: dict[str, dict[str, Any]]) -> None:
    uses = {
        "migrate": {"postgres"},
        "register-devnet": {"postgres", "migrate", "devnet"},
        # The API had replaced the shared depends_on and stopped waiting for Redis.
        "api": {"postgres", "redis", "migrate"},
        "indexer": {"postgres", "redis", "migrate"},
        "grafana": {"prometheus"},
    }
    for name, needed in uses.items():
        assert needed <= set(resolved[name].get("depends_on") or {}), (name, needed)


def test_long_running_services_have_health_checks(resolved: dict[str, dict[str, Any]]) -> None:
    for name, svc in resolved.items():
        if svc.get("restart") == "no":
            continue
        check = svc.get("healthcheck") or {}
        assert check.get("test"), f"{name} has no health check"
        assert not check.get("disable"), name


def test_the_indexer_health_check_fails_when_it_is_stalled(
    resolved: dict[str, dict[str, Any]],
) -> None:
    # Its /metrics listener answers while the loop is stuck: the check reads the indexer's
    # status row instead (`orbitpay health --indexer`: non-zero when it is not fresh).
    assert healthcheck_argv(resolved["indexer"]) == ["orbitpay", "health", "--indexer"]
    assert "/metrics" not in " ".join(_all_strings(resolved["indexer"]["healthcheck"]))


def test_images_exist_and_are_pinned(resolved: dict[str, dict[str, Any]]) -> None:
    for name, svc in resolved.items():
        build = svc.get("build")
        if build:
            assert (REPO / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
            continue
        image = svc.get("image", "")
        assert ":" in image and not image.endswith(":latest"), (name, image)
    for svc in resolved.values():
        for volume in svc.get("volumes") or []:
            source = str(volume).split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), volume


def test_the_published_api_port_is_the_one_it_listens_on() -> None:
    api = services(REQUIRED | {"ORBITPAY_API_PORT": "8123"})["api"]
    assert api["environment"]["ORBITPAY_API_PORT"] == "8123"
    assert api["ports"] == ["8123:8123"]
    assert "127.0.0.1:8123/health" in " ".join(healthcheck_argv(api) or [])


@cache
def _help(*words: str) -> str:
    done = subprocess.run(
        [str(ORBITPAY_CLI), *words, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"`orbitpay {' '.join(words)}` is no command: {done.stderr}"
    return done.stdout


def _check_cli(argv: list[str], where: str) -> None:
    """``argv`` (after ``orbitpay``): its command words exist and take its options."""
    words = []
    for part in argv:
        if part.startswith("-"):
            break
        words.append(part)
    # The command path is the longest prefix that is a command (arguments follow it).
    while words:
        done = subprocess.run(
            [str(ORBITPAY_CLI), *words, "--help"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode == 0:
            break
        words.pop()
    assert words, f"{where}: {argv} names no orbitpay command"
    text = _help(*words)
    for option in (part for part in argv if part.startswith("--")):
        assert option.split("=")[0] in text, (
            f"{where}: `orbitpay {' '.join(words)}` has no {option}"
        )


def test_compose_runs_real_orbitpay_commands(resolved: dict[str, dict[str, Any]]) -> None:
    assert ORBITPAY_CLI.exists(), ORBITPAY_CLI
    checked = 0
    for name, svc in orbitpay_services(resolved).items():
        _check_cli(command_of(svc), f"{name} command")
        checked += 1
        argv = healthcheck_argv(svc)
        if argv and argv[0] == "orbitpay":
            _check_cli(argv[1:], f"{name} healthcheck")
            checked += 1
    assert checked >= 6


def test_health_checks_run_programs_the_image_has(resolved: dict[str, dict[str, Any]]) -> None:
    # The slim image carries Python and orbitpay, no curl or wget.
    for name, svc in orbitpay_services(resolved).items():
        if svc.get("restart") == "no":
            # One-shot jobs do not inherit the image's API check (they serve no HTTP).
            assert svc.get("healthcheck") == {"disable": True}, name
            continue
        argv = healthcheck_argv(svc)
        assert argv is not None and argv[0] in ("orbitpay", "python"), (name, argv)
        if argv[0] == "python":
            compile(argv[argv.index("-c") + 1], f"{name} healthcheck", "exec")


def test_interpolation_follows_compose() -> None:
    """The reading the other checks (and tests/e2e/test_compose_stack.py) rely on."""
    env = {"SET": "v", "EMPTY": ""}
    assert interpolate({"k": ["$${SET}", "${SET:-d}", "${UNSET:-d}", "${EMPTY:-d}"]}, env) == {
        "k": ["${SET}", "v", "d", "d"]
    }
    assert interpolate(["${EMPTY-d}", "${UNSET-d}", "${SET}", "${UNSET}", "a$$b"], env) == [
        "",
        "d",
        "v",
        "",
        "a$b",
    ]
    with pytest.raises(MissingVariable, match="UNSET: say so"):
        interpolate("${UNSET:?say so}", env)
    with pytest.raises(MissingVariable):
        interpolate("${EMPTY:?say so}", env)
    assert interpolate("${EMPTY?say so}", env) == ""
    assert COMPOSE_FILE.exists()
