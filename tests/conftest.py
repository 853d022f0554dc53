"""Shared fixtures: where the TNTP data lives, and the rule for when it is missing.

Tests read TNTP networks from ``$PTN_TNTP_DIR``, else ``../shared/data/tntp/`` beside the
checkout. Where the data is absent they skip with the reason, except under CI (``CI=true``),
where absence is a failure: CI has the data beside the checkout.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import REPOSITORY


def tntp_root() -> Path:
    configured = os.environ.get("PTN_TNTP_DIR")
    if configured:
        return Path(configured)
    return REPOSITORY.parent / "shared" / "data" / "tntp"


@pytest.fixture(scope="session")
def tntp_directory() -> Callable[[str], Path]:
    """Return a function mapping a network name (e.g. ``SiouxFalls``) to its TNTP directory."""

    def locate(name: str) -> Path:
        directory = tntp_root() / name
        if directory.is_dir():
            return directory
        reason = f"TNTP network {name} not found at {directory} (set PTN_TNTP_DIR)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)

    return locate
