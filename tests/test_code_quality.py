"""ruff and mypy are part of the suite, so a style or type regression fails CI."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPOSITORY


def run_tool(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *arguments], cwd=REPOSITORY, capture_output=True, text=True,
        timeout=600, check=False,
    )


def test_ruff_is_clean() -> None:
    result = run_tool("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean_on_the_packages() -> None:
    result = run_tool("mypy", "engines", "services", "coordinator", "negotiation")
    assert result.returncode == 0, result.stdout + result.stderr
