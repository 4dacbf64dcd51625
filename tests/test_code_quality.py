"""The house rules that tools can check: lint, format, types, and layers pointing one way.

The checks run in the background from the end of collection (`tests/static_checks.py`)."""

from __future__ import annotations

import pytest

from tests import static_checks


@pytest.mark.parametrize("name", list(static_checks.CHECKS))
def test_static_check_passes(name: str) -> None:
    code, output = static_checks.result(name)
    assert code == 0, f"{' '.join(static_checks.CHECKS[name])} failed:\n{output}"
