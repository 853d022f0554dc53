"""Shared fixtures: where the TNTP data lives, and the rule for when it is missing; one Ray
runtime per test session.

Tests read TNTP networks from ``$PTN_TNTP_DIR``, else ``../shared/data/tntp/`` beside the
checkout. Where the data is absent they skip with the reason, except under CI (``CI=true``),
where absence is a failure: CI has the data beside the checkout.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
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


@pytest.fixture(scope="session", autouse=True)
def one_ray_runtime_per_session() -> Iterator[None]:
    """A local Ray runtime started by any test stays up until the session ends.

    ptn starts Ray's local runtime when a run needs one and stops it after the run. Started and
    stopped several times in one process (the test session), the next start now and then got
    no raylet ("The current node timed out during startup"; CI saw it fail 50 conformance
    tests), and every start costs seconds. So within the session ``ray.shutdown`` does nothing,
    and the runtime is stopped once at the end."""
    import ray

    real_shutdown = ray.shutdown
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ray, "shutdown", lambda *args, **kwargs: None)
        yield
    if ray.is_initialized():
        real_shutdown()
