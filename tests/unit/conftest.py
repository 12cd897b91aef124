from __future__ import annotations

import pytest

from tests.captured_data import VERSIONS


@pytest.fixture(params=VERSIONS)
def version(request: pytest.FixtureRequest) -> str:
    """Each captured HAProxy version in turn."""
    return str(request.param)
