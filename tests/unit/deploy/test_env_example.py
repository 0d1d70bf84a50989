"""``.env.example`` names every setting, and only settings.

A setting missing from it is one an operator cannot discover without reading the
code; an ``ORBITPAY_`` line that is no setting (a typo, a renamed or removed one) is
silently ignored by the service (``extra="ignore"``). Both fail here, so the file
cannot drift from :class:`orbitpay.config.Settings`.
"""

from __future__ import annotations

import re

from tests.unit.deploy.compose import REPO

from orbitpay.config import ENV_PREFIX, Settings, load_settings

EXAMPLE = REPO / ".env.example"
# ``ORBITPAY_X=value`` or ``#ORBITPAY_X=value`` (commented: shown with its default).
_LINE = re.compile(rf"^#?\s*({ENV_PREFIX}[A-Z0-9_]+)=(.*)$", re.M)


def _documented() -> dict[str, str]:
    return {name: value for name, value in _LINE.findall(EXAMPLE.read_text())}


def test_every_setting_is_in_env_example() -> None:
    settings = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    missing = settings - set(_documented())
    assert not missing, f".env.example lacks {sorted(missing)}"


def test_every_orbitpay_variable_in_env_example_is_a_setting() -> None:
    settings = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    unknown = set(_documented()) - settings
    assert not unknown, f".env.example names variables that are no setting: {sorted(unknown)}"


def test_the_example_values_are_valid() -> None:
    # Uncommenting any line as shown must not stop the service with a configuration error.
    given = {
        name.removeprefix(ENV_PREFIX).lower(): value.strip()
        for name, value in _documented().items()
        if value.strip() and "..." not in value
    }
    settings = load_settings(_env_file=None, **given)
    assert settings.log_level in ("debug", "info", "warning", "error")
