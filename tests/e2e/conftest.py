"""Every test under ``tests/e2e`` is an end-to-end test: marked ``e2e`` here, once.

``make test-fast`` deselects them with ``-m "not e2e"``; marking by directory
means a new end-to-end module cannot forget its marker and slow the fast run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.e2e)
